package tweet

import (
	"time"
)

// XV2Message is one line of the X API v2 filtered stream (or a replayed
// one): a post with its expansions, or only errors (operational disconnects).
type XV2Message struct {
	Data          *XV2Post          `json:"data"`
	Includes      XV2Includes       `json:"includes"`
	MatchingRules []XV2MatchingRule `json:"matching_rules"`
	Errors        []XV2Error        `json:"errors"`
}

// XV2Post is the data object of a v2 post.
type XV2Post struct {
	ID        string      `json:"id"`
	Text      string      `json:"text"`
	AuthorID  string      `json:"author_id"`
	CreatedAt string      `json:"created_at"`
	Lang      string      `json:"lang"`
	Entities  XV2Entities `json:"entities"`
}

// XV2Entities are the entities of a v2 post that the document keeps.
type XV2Entities struct {
	Hashtags []struct {
		Start int    `json:"start"`
		End   int    `json:"end"`
		Tag   string `json:"tag"`
	} `json:"hashtags"`
	URLs []struct {
		Start       int    `json:"start"`
		End         int    `json:"end"`
		URL         string `json:"url"`
		ExpandedURL string `json:"expanded_url"`
	} `json:"urls"`
}

// XV2Includes carries the author_id expansion.
type XV2Includes struct {
	Users []XV2User `json:"users"`
}

// XV2User is an expanded user.
type XV2User struct {
	ID            string `json:"id"`
	Username      string `json:"username"`
	Name          string `json:"name"`
	PublicMetrics struct {
		FollowersCount int64 `json:"followers_count"`
	} `json:"public_metrics"`
}

// XV2MatchingRule names a rule that matched the post.
type XV2MatchingRule struct {
	ID  string `json:"id"`
	Tag string `json:"tag"`
}

// XV2Error is a problem object; on the stream, one with Title
// "operational-disconnect" announces that X is closing the connection.
type XV2Error struct {
	Title          string `json:"title"`
	Detail         string `json:"detail"`
	Type           string `json:"type"`
	DisconnectType string `json:"disconnect_type"`
	Code           int    `json:"code"`
	Message        string `json:"message"`
}

// IsOperationalDisconnect reports whether e announces a server-side disconnect.
func (e XV2Error) IsOperationalDisconnect() bool {
	return e.Title == "operational-disconnect" || e.DisconnectType != "" ||
		e.Type == "https://api.twitter.com/2/problems/operational-disconnect" ||
		e.Type == "https://api.x.com/2/problems/operational-disconnect"
}

// ParseXV2 decodes one v2 stream message without converting it.
func ParseXV2(raw []byte) (XV2Message, error) {
	var m XV2Message
	if err := decodeJSON(raw, &m); err != nil {
		return XV2Message{}, err
	}
	return m, nil
}

// FromXV2 converts one raw v2 stream message to a document.
func FromXV2(raw []byte) (Document, error) {
	m, err := ParseXV2(raw)
	if err != nil {
		return Document{}, err
	}
	return m.Document()
}

// Document converts the message's post, joining includes.users on author_id.
// A message with only errors returns ErrNotPost.
func (m *XV2Message) Document() (Document, error) {
	p := m.Data
	if p == nil {
		if len(m.Errors) > 0 {
			return Document{}, ErrNotPost
		}
		return Document{}, malformed(ReasonMissingField, "x v2 message has neither data nor errors")
	}
	if p.ID == "" {
		return Document{}, malformed(ReasonMissingField, "x v2 data.id is empty")
	}
	if p.CreatedAt == "" {
		return Document{}, malformed(ReasonMissingField, "x v2 data.created_at is empty (tweet.fields must include created_at)")
	}
	t, err := time.Parse(time.RFC3339Nano, p.CreatedAt)
	if err != nil {
		return Document{}, malformed(ReasonBadValue, "x v2 data.created_at is not RFC 3339")
	}
	d := Document{
		IDStr:  p.ID,
		Text:   p.Text,
		Lang:   p.Lang,
		Source: SourceX,
		User:   User{IDStr: p.AuthorID},
	}
	d.SetTime(t)
	for i := range m.Includes.Users {
		u := &m.Includes.Users[i]
		if u.ID == p.AuthorID {
			d.User.ScreenName = u.Username
			d.User.Name = u.Name
			d.User.FollowersCount = u.PublicMetrics.FollowersCount
			break
		}
	}
	if n := len(p.Entities.Hashtags); n > 0 {
		d.Entities.Hashtags = make([]Hashtag, 0, n)
		for _, h := range p.Entities.Hashtags {
			if h.Tag == "" {
				continue
			}
			d.Entities.Hashtags = append(d.Entities.Hashtags, Hashtag{Text: h.Tag, Indices: []int{h.Start, h.End}})
		}
	}
	if n := len(p.Entities.URLs); n > 0 {
		d.Entities.URLs = make([]URL, 0, n)
		for _, u := range p.Entities.URLs {
			e := u.ExpandedURL
			if e == "" {
				e = u.URL
			}
			if e == "" {
				continue
			}
			d.Entities.URLs = append(d.Entities.URLs, URL{ExpandedURL: e})
		}
	}
	d.normalize()
	return d, nil
}
