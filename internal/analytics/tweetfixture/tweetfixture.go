// Package tweetfixture generates canonical tweet documents (architecture.md)
// deterministically, for the analytics server's tests and benchmarks, and
// computes the panel answers independently of any SQL engine.
package tweetfixture

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Tweet is the canonical tweet document.
type Tweet struct {
	IDStr       string   `json:"id_str"`
	CreatedAt   string   `json:"created_at"`
	TimestampMs string   `json:"timestamp_ms"`
	Text        string   `json:"text"`
	Lang        string   `json:"lang"`
	User        User     `json:"user"`
	Entities    Entities `json:"entities"`
	Source      string   `json:"source"`
}

// User is the tweet's author.
type User struct {
	IDStr          string `json:"id_str"`
	ScreenName     string `json:"screen_name"`
	Name           string `json:"name"`
	FollowersCount int64  `json:"followers_count"`
}

// Entities holds hashtags and URLs.
type Entities struct {
	Hashtags []Hashtag `json:"hashtags"`
	URLs     []URL     `json:"urls"`
}

// Hashtag is one hashtag with its position in the text.
type Hashtag struct {
	Text    string `json:"text"`
	Indices []int  `json:"indices"`
}

// URL is one link.
type URL struct {
	ExpandedURL string `json:"expanded_url"`
}

// Time returns the tweet's timestamp_ms as a time.
func (t Tweet) Time() time.Time {
	ms, _ := strconv.ParseInt(t.TimestampMs, 10, 64)
	return time.UnixMilli(ms).UTC()
}

// JSON encodes the tweet.
func (t Tweet) JSON() []byte {
	b, err := json.Marshal(t)
	if err != nil {
		panic(err)
	}
	return b
}

var tags = []string{"Music", "music", "golang", "DuckDB", "news", "sports", "AI", "rust", "kinesis", "Dashboards", "cats", "dogs", "travel", "food", "x' OR '1'='1"}

// Generate returns n tweets with ids prefix-0..n-1 whose timestamps are spread
// evenly over [start, end). Hashtags repeat in different cases on purpose.
func Generate(seed uint64, prefix string, n int, start, end time.Time) []Tweet {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]Tweet, n)
	span := end.Sub(start)
	for i := range out {
		ts := start.Add(time.Duration(int64(span) / int64(n) * int64(i)))
		user := r.IntN(200)
		var hs []Hashtag
		text := fmt.Sprintf("tweet %d from user%d", i, user)
		for k := r.IntN(4); k > 0; k-- {
			h := tags[r.IntN(len(tags)-1)]
			if r.IntN(1000) == 0 {
				h = tags[len(tags)-1]
			}
			start := len(text) + 1
			text += " #" + h
			hs = append(hs, Hashtag{Text: h, Indices: []int{start, start + 1 + len(h)}})
		}
		if hs == nil {
			hs = []Hashtag{}
		}
		out[i] = Tweet{
			IDStr:       fmt.Sprintf("%s-%d", prefix, i),
			CreatedAt:   ts.UTC().Format("Mon Jan 02 15:04:05 +0000 2006"),
			TimestampMs: strconv.FormatInt(ts.UnixMilli(), 10),
			Text:        text,
			Lang:        "en",
			User: User{
				IDStr:          strconv.Itoa(user),
				ScreenName:     fmt.Sprintf("user%d", user),
				Name:           fmt.Sprintf("User %d", user),
				FollowersCount: int64(user*37%1000 + user),
			},
			Entities: Entities{Hashtags: hs, URLs: []URL{}},
			Source:   "replay",
		}
	}
	return out
}

// Count is a hashtag or user with its count.
type Count struct {
	Key   string
	Count int64
}

func sorted(m map[string]int64, limit int) []Count {
	out := make([]Count, 0, len(m))
	for k, v := range m {
		out = append(out, Count{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Key < out[j].Key
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

func has(t Tweet, tag string) bool {
	for _, h := range t.Entities.Hashtags {
		if strings.EqualFold(h.Text, tag) {
			return true
		}
	}
	return false
}

// TopHashtags counts tweets per lower-cased hashtag since the given time.
func TopHashtags(ts []Tweet, since time.Time, limit int) []Count {
	m := map[string]int64{}
	for _, t := range ts {
		if t.Time().Before(since) {
			continue
		}
		seen := map[string]bool{}
		for _, h := range t.Entities.Hashtags {
			l := strings.ToLower(h.Text)
			if !seen[l] {
				seen[l] = true
				m[l]++
			}
		}
	}
	return sorted(m, limit)
}

// RelatedHashtags counts co-occurring hashtags of tweets carrying tag.
func RelatedHashtags(ts []Tweet, since time.Time, tag string, limit int) []Count {
	m := map[string]int64{}
	for _, t := range ts {
		if t.Time().Before(since) || !has(t, tag) {
			continue
		}
		seen := map[string]bool{}
		for _, h := range t.Entities.Hashtags {
			l := strings.ToLower(h.Text)
			if l != strings.ToLower(tag) && !seen[l] {
				seen[l] = true
				m[l]++
			}
		}
	}
	return sorted(m, limit)
}

// Influencers returns users tweeting tag by follower count.
func Influencers(ts []Tweet, since time.Time, tag string, limit int) []Count {
	m := map[string]int64{}
	for _, t := range ts {
		if t.Time().Before(since) || !has(t, tag) {
			continue
		}
		if t.User.FollowersCount >= m[t.User.ScreenName] {
			m[t.User.ScreenName] = t.User.FollowersCount
		}
	}
	return sorted(m, limit)
}

// CountSince counts tweets since the given time, carrying tag when tag != "".
func CountSince(ts []Tweet, since time.Time, tag string) int64 {
	var n int64
	for _, t := range ts {
		if !t.Time().Before(since) && (tag == "" || has(t, tag)) {
			n++
		}
	}
	return n
}

// Newest returns the ids of the newest tweets since the given time (carrying tag when set).
func Newest(ts []Tweet, since time.Time, tag string, limit int) []string {
	var sel []Tweet
	for _, t := range ts {
		if !t.Time().Before(since) && (tag == "" || has(t, tag)) {
			sel = append(sel, t)
		}
	}
	sort.SliceStable(sel, func(i, j int) bool { return sel[i].Time().After(sel[j].Time()) })
	var out []string
	for i := 0; i < len(sel) && i < limit; i++ {
		out = append(out, sel[i].IDStr)
	}
	return out
}

// Buckets counts tweets per 2-second bucket (bucket start, UTC) since the given time.
func Buckets(ts []Tweet, since time.Time) map[time.Time]int64 {
	m := map[time.Time]int64{}
	for _, t := range ts {
		if tt := t.Time(); !tt.Before(since) {
			m[tt.Truncate(2*time.Second)]++
		}
	}
	return m
}
