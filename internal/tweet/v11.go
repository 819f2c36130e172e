package tweet

import (
	"strconv"
	"time"
)

// v11Status is the part of a Twitter API v1.1 status (REST or the old
// streaming API) that the document needs.
type v11Status struct {
	ID          *int64       `json:"id"`
	IDStr       string       `json:"id_str"`
	CreatedAt   string       `json:"created_at"`
	TimestampMS string       `json:"timestamp_ms"`
	Text        string       `json:"text"`
	FullText    string       `json:"full_text"`
	Truncated   bool         `json:"truncated"`
	Lang        string       `json:"lang"`
	Source      string       `json:"source"`
	User        *v11User     `json:"user"`
	Entities    v11Entities  `json:"entities"`
	Extended    *v11Extended `json:"extended_tweet"`
	Delete      *struct{}    `json:"delete"`
	Limit       *struct{}    `json:"limit"`
	ScrubGeo    *struct{}    `json:"scrub_geo"`
	Warning     *struct{}    `json:"warning"`
	Disconnect  *struct{}    `json:"disconnect"`
	StatusWH    *struct{}    `json:"status_withheld"`
}

type v11User struct {
	ID             *int64 `json:"id"`
	IDStr          string `json:"id_str"`
	ScreenName     string `json:"screen_name"`
	Name           string `json:"name"`
	FollowersCount int64  `json:"followers_count"`
}

type v11Entities struct {
	Hashtags []struct {
		Text    string `json:"text"`
		Indices []int  `json:"indices"`
	} `json:"hashtags"`
	URLs []struct {
		URL         string `json:"url"`
		ExpandedURL string `json:"expanded_url"`
	} `json:"urls"`
}

type v11Extended struct {
	FullText string      `json:"full_text"`
	Entities v11Entities `json:"entities"`
}

// FromV11 converts one raw v1.1 status to a document. Stream notices
// (delete, limit, scrub_geo, ...) return ErrNotPost. Truncated statuses use
// extended_tweet's full text and entities.
func FromV11(raw []byte) (Document, error) {
	var s v11Status
	if err := decodeJSON(raw, &s); err != nil {
		return Document{}, err
	}
	return s.document(SourceX)
}

func (s *v11Status) document(source string) (Document, error) {
	if s.Delete != nil || s.Limit != nil || s.ScrubGeo != nil || s.Warning != nil || s.Disconnect != nil || s.StatusWH != nil {
		return Document{}, ErrNotPost
	}
	id := s.IDStr
	if id == "" && s.ID != nil {
		id = strconv.FormatInt(*s.ID, 10)
	}
	if id == "" {
		return Document{}, malformed(ReasonMissingField, "v1.1 status has no id_str")
	}
	var t time.Time
	var err error
	switch {
	case s.TimestampMS != "":
		ms, perr := strconv.ParseInt(s.TimestampMS, 10, 64)
		if perr != nil {
			return Document{}, malformed(ReasonBadValue, "v1.1 timestamp_ms is not epoch milliseconds")
		}
		t = time.UnixMilli(ms)
	case s.CreatedAt != "":
		t, err = time.Parse(CreatedAtLayout, s.CreatedAt)
		if err != nil {
			return Document{}, malformed(ReasonBadValue, "v1.1 created_at is not in the v1.1 format")
		}
	default:
		return Document{}, malformed(ReasonMissingField, "v1.1 status has no created_at")
	}
	d := Document{IDStr: id, Text: s.Text, Lang: s.Lang, Source: source}
	if s.FullText != "" {
		d.Text = s.FullText
	}
	d.SetTime(t)
	ents := s.Entities
	if s.Extended != nil && s.Extended.FullText != "" {
		d.Text = s.Extended.FullText
		ents = s.Extended.Entities
	}
	if u := s.User; u != nil {
		d.User = User{IDStr: u.IDStr, ScreenName: u.ScreenName, Name: u.Name, FollowersCount: u.FollowersCount}
		if d.User.IDStr == "" && u.ID != nil {
			d.User.IDStr = strconv.FormatInt(*u.ID, 10)
		}
	}
	if n := len(ents.Hashtags); n > 0 {
		d.Entities.Hashtags = make([]Hashtag, 0, n)
		for _, h := range ents.Hashtags {
			if h.Text == "" {
				continue
			}
			idx := h.Indices
			if len(idx) != 2 {
				idx = []int{}
			}
			d.Entities.Hashtags = append(d.Entities.Hashtags, Hashtag{Text: h.Text, Indices: idx})
		}
	}
	if n := len(ents.URLs); n > 0 {
		d.Entities.URLs = make([]URL, 0, n)
		for _, u := range ents.URLs {
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
