package tweet

import (
	"encoding/json"
	"strings"
	"time"
)

// BlueskyPostCollection is the collection of Bluesky posts.
const BlueskyPostCollection = "app.bsky.feed.post"

const (
	facetTag  = "app.bsky.richtext.facet#tag"
	facetLink = "app.bsky.richtext.facet#link"
)

// JetstreamEvent is the envelope of one Jetstream message. Every kind
// (commit, identity, account) carries time_us, which is the resume cursor.
type JetstreamEvent struct {
	DID    string           `json:"did"`
	TimeUS int64            `json:"time_us"`
	Kind   string           `json:"kind"`
	Commit *JetstreamCommit `json:"commit"`
}

// JetstreamCommit is a repository commit; Record is decoded only for post creates.
type JetstreamCommit struct {
	Rev        string          `json:"rev"`
	Operation  string          `json:"operation"`
	Collection string          `json:"collection"`
	RKey       string          `json:"rkey"`
	CID        string          `json:"cid"`
	Record     json.RawMessage `json:"record"`
}

// BlueskyPost is an app.bsky.feed.post record.
type BlueskyPost struct {
	Type      string   `json:"$type"`
	Text      string   `json:"text"`
	CreatedAt string   `json:"createdAt"`
	Langs     []string `json:"langs"`
	Facets    []struct {
		Index struct {
			ByteStart int `json:"byteStart"`
			ByteEnd   int `json:"byteEnd"`
		} `json:"index"`
		Features []struct {
			Type string `json:"$type"`
			Tag  string `json:"tag"`
			URI  string `json:"uri"`
		} `json:"features"`
	} `json:"facets"`
	Tags []string `json:"tags"`
}

// Profile is what the public profile API tells about an author.
type Profile struct {
	Handle         string
	DisplayName    string
	FollowersCount int64
}

// ParseJetstream decodes the envelope of one Jetstream message.
func ParseJetstream(raw []byte) (JetstreamEvent, error) {
	var e JetstreamEvent
	if err := decodeJSON(raw, &e); err != nil {
		return JetstreamEvent{}, err
	}
	if e.TimeUS <= 0 {
		return JetstreamEvent{}, malformed(ReasonMissingField, "jetstream time_us is missing")
	}
	return e, nil
}

// IsPostCreate reports whether e creates a post.
func (e *JetstreamEvent) IsPostCreate() bool {
	return e.Kind == "commit" && e.Commit != nil && e.Commit.Operation == "create" &&
		e.Commit.Collection == BlueskyPostCollection
}

// Post decodes the record of a post create; other events return ErrNotPost.
func (e *JetstreamEvent) Post() (BlueskyPost, error) {
	if !e.IsPostCreate() {
		return BlueskyPost{}, ErrNotPost
	}
	if e.DID == "" || e.Commit.RKey == "" {
		return BlueskyPost{}, malformed(ReasonMissingField, "jetstream post has no did or rkey")
	}
	if len(e.Commit.Record) == 0 {
		return BlueskyPost{}, malformed(ReasonMissingField, "jetstream post has no record")
	}
	var p BlueskyPost
	if err := json.Unmarshal(e.Commit.Record, &p); err != nil {
		return BlueskyPost{}, malformed(ReasonInvalidJSON, "%s", jsonErrorSummary(err))
	}
	return p, nil
}

// FromJetstream converts one raw Jetstream message to a document, with
// prof as the author's profile (zero when unknown).
func FromJetstream(raw []byte, prof Profile) (Document, error) {
	e, err := ParseJetstream(raw)
	if err != nil {
		return Document{}, err
	}
	p, err := e.Post()
	if err != nil {
		return Document{}, err
	}
	return e.Document(&p, prof), nil
}

// Document builds the document of post p in event e. Hashtags come from tag
// facets (in text order), then record.tags not already present; facet
// byte offsets become code-point indices. Links come from link facets.
func (e *JetstreamEvent) Document(p *BlueskyPost, prof Profile) Document {
	d := Document{
		IDStr:  e.DID + "/" + e.Commit.RKey,
		Text:   p.Text,
		Source: SourceBluesky,
		User: User{
			IDStr:          e.DID,
			ScreenName:     e.DID,
			Name:           e.DID,
			FollowersCount: prof.FollowersCount,
		},
	}
	if prof.Handle != "" {
		d.User.ScreenName = prof.Handle
		d.User.Name = prof.Handle
	}
	if prof.DisplayName != "" {
		d.User.Name = prof.DisplayName
	}
	if len(p.Langs) > 0 {
		d.Lang = p.Langs[0]
	}
	received := time.UnixMicro(e.TimeUS)
	d.SetTime(received)
	// created_at is the author's clock (record.createdAt); timestamp_ms is
	// when the network saw the post, which is what windows should use.
	if t, err := time.Parse(time.RFC3339Nano, p.CreatedAt); err == nil && t.Year() > 0 && t.Year() < 10000 {
		d.CreatedAt = t.UTC().Format(CreatedAtLayout)
	}
	for _, f := range p.Facets {
		for _, feat := range f.Features {
			switch feat.Type {
			case facetTag:
				tag := strings.TrimPrefix(feat.Tag, "#")
				if tag == "" {
					continue
				}
				idx := []int{}
				s, ok1 := runeIndex(p.Text, f.Index.ByteStart)
				en, ok2 := runeIndex(p.Text, f.Index.ByteEnd)
				if ok1 && ok2 && s <= en {
					idx = []int{s, en}
				}
				d.Entities.Hashtags = append(d.Entities.Hashtags, Hashtag{Text: tag, Indices: idx})
			case facetLink:
				if feat.URI != "" {
					d.Entities.URLs = append(d.Entities.URLs, URL{ExpandedURL: feat.URI})
				}
			}
		}
	}
	for _, t := range p.Tags {
		t = strings.TrimPrefix(t, "#")
		if t == "" || hasTag(d.Entities.Hashtags, t) {
			continue
		}
		d.Entities.Hashtags = append(d.Entities.Hashtags, Hashtag{Text: t, Indices: []int{}})
	}
	d.normalize()
	return d
}

func hasTag(hs []Hashtag, t string) bool {
	for _, h := range hs {
		if h.Text == t {
			return true
		}
	}
	return false
}
