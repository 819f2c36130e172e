package tweet

import (
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestGeneratorDeterministic(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a, b, c := NewGenerator(42), NewGenerator(42), NewGenerator(43)
	differ := 0
	for i := 0; i < 2000; i++ {
		// Different timestamps must not change anything but the time fields.
		da := a.Next(t0.Add(time.Duration(i) * time.Second))
		db := b.Next(t0.Add(time.Duration(i) * time.Hour))
		da.CreatedAt, da.TimestampMS, db.CreatedAt, db.TimestampMS = "", "", "", ""
		if !reflect.DeepEqual(da, db) {
			t.Fatalf("document %d differs for the same seed:\n%+v\n%+v", i, da, db)
		}
		dc := c.Next(t0)
		if dc.Text != da.Text {
			differ++
		}
	}
	if differ < 1000 {
		t.Errorf("seeds 42 and 43 produced %d/2000 different texts; seeds must matter", differ)
	}
}

func TestGeneratorDocumentsAreValid(t *testing.T) {
	g := NewGenerator(7)
	ids := map[string]bool{}
	ts := time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)
	for i := 0; i < 5000; i++ {
		d := g.Next(ts)
		checkDocument(t, d)
		if ids[d.IDStr] {
			t.Fatalf("duplicate id %s", d.IDStr)
		}
		ids[d.IDStr] = true
		if n := len(d.Entities.Hashtags); n > 4 {
			t.Fatalf("%d hashtags", n)
		}
		r := []rune(d.Text)
		for _, h := range d.Entities.Hashtags {
			if got := string(r[h.Indices[0]:h.Indices[1]]); got != "#"+h.Text {
				t.Fatalf("indices %v select %q, want #%s in %q", h.Indices, got, h.Text, d.Text)
			}
		}
		for _, u := range d.Entities.URLs {
			if !strings.Contains(d.Text, u.ExpandedURL) {
				t.Fatalf("url %q not in text", u.ExpandedURL)
			}
		}
	}
}

func TestGeneratorSkew(t *testing.T) {
	g := NewGenerator(1)
	const n = 20000
	tags := map[string]int{}
	users := map[string]int{}
	followers := map[string]int64{}
	perPost := make([]int, 5)
	mixedCase := 0
	ts := time.Unix(0, 0)
	for i := 0; i < n; i++ {
		d := g.Next(ts)
		perPost[len(d.Entities.Hashtags)]++
		for _, h := range d.Entities.Hashtags {
			tags[strings.ToLower(h.Text)]++
			if h.Text != strings.ToLower(h.Text) {
				mixedCase++
			}
		}
		users[d.User.ScreenName]++
		if f, ok := followers[d.User.ScreenName]; ok && f != d.User.FollowersCount {
			t.Fatalf("user %s changed follower count %d -> %d", d.User.ScreenName, f, d.User.FollowersCount)
		}
		followers[d.User.ScreenName] = d.User.FollowersCount
	}
	for k, c := range perPost {
		if c == 0 {
			t.Errorf("no post with %d hashtags", k)
		}
	}
	if mixedCase == 0 {
		t.Error("no mixed-case hashtags")
	}
	share := func(m map[string]int, top int) float64 {
		var cs []int
		total := 0
		for _, c := range m {
			cs = append(cs, c)
			total += c
		}
		sort.Sort(sort.Reverse(sort.IntSlice(cs)))
		s := 0
		for i := 0; i < top && i < len(cs); i++ {
			s += cs[i]
		}
		return float64(s) / float64(total)
	}
	// Zipf: a handful of the 400 tags and 5000 users carry a large share.
	if s := share(tags, 10); s < 0.3 {
		t.Errorf("top 10 hashtags carry %.2f of uses; want a dominant head", s)
	}
	if s := share(users, 20); s < 0.2 {
		t.Errorf("top 20 users carry %.2f of posts; want a dominant head", s)
	}
	if len(tags) < 100 || len(users) < 500 {
		t.Errorf("tail too short: %d tags, %d users", len(tags), len(users))
	}
}
