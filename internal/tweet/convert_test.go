package tweet

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// sampleLines returns the non-empty lines of a testdata file.
func sampleLines(tb testing.TB, name string) [][]byte {
	tb.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, MaxMessageBytes)
	for sc.Scan() {
		if l := bytes.TrimSpace(sc.Bytes()); len(l) > 0 {
			out = append(out, append([]byte(nil), l...))
		}
	}
	return out
}

func TestFromXV2(t *testing.T) {
	lines := sampleLines(t, "xv2.ndjson")
	tests := []struct {
		name string
		raw  []byte
		want Document
	}{
		{
			name: "developer docs sample with user expansion",
			raw:  lines[0],
			want: Document{
				IDStr: "1346889436626259968", CreatedAt: "Wed Jan 06 18:40:40 +0000 2021", TimestampMS: "1609958440000",
				Text: "Learn how to use the user Tweet timeline #API #TwitterDev https://t.co/56a0vZUx7i", Lang: "en",
				User: User{IDStr: "2244994945", ScreenName: "TwitterDev", Name: "Twitter Dev", FollowersCount: 513962},
				Entities: Entities{
					Hashtags: []Hashtag{{Text: "API", Indices: []int{40, 44}}, {Text: "TwitterDev", Indices: []int{45, 56}}},
					URLs:     []URL{{ExpandedURL: "https://developer.twitter.com/en/docs/twitter-api/tweets/timelines/introduction"}},
				},
				Source: "x",
			},
		},
		{
			name: "author joined among several users, milliseconds kept",
			raw:  lines[1],
			want: Document{
				IDStr: "1600000000000000001", CreatedAt: "Tue Dec 06 09:00:00 +0000 2022", TimestampMS: "1670317200123",
				Text: "ビール飲みたい #金曜日", Lang: "ja",
				User:     User{IDStr: "42", ScreenName: "tokyo_dev", Name: "東京", FollowersCount: 77},
				Entities: Entities{Hashtags: []Hashtag{{Text: "金曜日", Indices: []int{8, 12}}}, URLs: []URL{}},
				Source:   "x",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromXV2(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestFromV11(t *testing.T) {
	lines := sampleLines(t, "v11.ndjson")
	got, err := FromV11(lines[0])
	if err != nil {
		t.Fatal(err)
	}
	if got.IDStr != "1050118621198921728" || got.TimestampMS != "1539202764000" || got.CreatedAt != "Wed Oct 10 20:19:24 +0000 2018" {
		t.Errorf("id/time: %+v", got)
	}
	if !strings.HasSuffix(got.Text, "#Emoji") {
		t.Errorf("truncated status must use extended_tweet.full_text, got %q", got.Text)
	}
	wantEnt := Entities{Hashtags: []Hashtag{{Text: "Emoji", Indices: []int{236, 242}}}, URLs: []URL{{ExpandedURL: "https://twittercommunity.com/t/114607"}}}
	if !reflect.DeepEqual(got.Entities, wantEnt) {
		t.Errorf("entities %+v, want %+v", got.Entities, wantEnt)
	}
	if got.User != (User{IDStr: "6253282", ScreenName: "TwitterAPI", Name: "Twitter API", FollowersCount: 6133636}) {
		t.Errorf("user %+v", got.User)
	}

	// A REST status has no timestamp_ms: it is derived from created_at.
	got, err = FromV11(lines[1])
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSuffix(got.TimestampMS, "000"); want != "1491492255" {
		t.Errorf("timestamp_ms %q from created_at", got.TimestampMS)
	}
}

func TestFromJetstream(t *testing.T) {
	lines := sampleLines(t, "jetstream.ndjson")
	tests := []struct {
		name string
		raw  []byte
		prof Profile
		want Document
	}{
		{
			name: "facets at UTF-8 byte offsets become code-point indices; record.tags deduplicated",
			raw:  lines[0],
			prof: Profile{Handle: "alice.bsky.social", DisplayName: "Alice", FollowersCount: 1200},
			want: Document{
				IDStr: "did:plc:eygmaihciaxprqvxpfvl6flk/3l3qo2vuowo2b", CreatedAt: "Mon Sep 09 19:46:02 +0000 2024",
				TimestampMS: "1725911162329", Text: "Hello 🌍 #bluesky and #日本語 https://bsky.app", Lang: "en",
				User: User{IDStr: "did:plc:eygmaihciaxprqvxpfvl6flk", ScreenName: "alice.bsky.social", Name: "Alice", FollowersCount: 1200},
				Entities: Entities{
					Hashtags: []Hashtag{{Text: "bluesky", Indices: []int{8, 16}}, {Text: "日本語", Indices: []int{21, 25}}, {Text: "extra", Indices: []int{}}},
					URLs:     []URL{{ExpandedURL: "https://bsky.app"}},
				},
				Source: "bluesky",
			},
		},
		{
			name: "unknown profile: did as handle, zero followers",
			raw:  lines[1],
			want: Document{
				IDStr: "did:plc:ewvi7nxzyoun6zhxrhs64oiz/3l3f6nzl3cv2s", CreatedAt: "Thu Sep 05 06:11:04 +0000 2024",
				TimestampMS: "1725516666833", Text: "おはよう", Lang: "ja",
				User:     User{IDStr: "did:plc:ewvi7nxzyoun6zhxrhs64oiz", ScreenName: "did:plc:ewvi7nxzyoun6zhxrhs64oiz", Name: "did:plc:ewvi7nxzyoun6zhxrhs64oiz"},
				Entities: Entities{Hashtags: []Hashtag{}, URLs: []URL{}},
				Source:   "bluesky",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromJetstream(tc.raw, tc.prof)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestRejectsBadInput(t *testing.T) {
	big := []byte(`{"data":{"id":"1","created_at":"2021-01-06T18:40:40.000Z","text":"` + strings.Repeat("a", MaxMessageBytes) + `"}}`)
	tests := []struct {
		name       string
		convert    func([]byte) (Document, error)
		raw        []byte
		wantReason string // "" means ErrNotPost
	}{
		{"x v2 invalid json", FromXV2, []byte(`{"data":`), ReasonInvalidJSON},
		{"x v2 invalid utf-8", FromXV2, []byte("{\"data\":{\"id\":\"1\",\"text\":\"\xff\"}}"), ReasonInvalidUTF8},
		{"x v2 absurd size", FromXV2, big, ReasonTooLarge},
		{"x v2 missing id", FromXV2, []byte(`{"data":{"text":"hi","created_at":"2021-01-06T18:40:40.000Z"}}`), ReasonMissingField},
		{"x v2 missing created_at", FromXV2, []byte(`{"data":{"id":"1","text":"hi"}}`), ReasonMissingField},
		{"x v2 bad created_at", FromXV2, []byte(`{"data":{"id":"1","created_at":"yesterday"}}`), ReasonBadValue},
		{"x v2 wrong type", FromXV2, []byte(`{"data":{"id":1}}`), ReasonInvalidJSON},
		{"x v2 empty object", FromXV2, []byte(`{}`), ReasonMissingField},
		{"x v2 operational disconnect", FromXV2, []byte(`{"errors":[{"title":"operational-disconnect","disconnect_type":"UpstreamOperationalDisconnect","detail":"This stream has been disconnected upstream for operational reasons.","type":"https://api.twitter.com/2/problems/operational-disconnect"}]}`), ""},
		{"v1.1 delete notice", FromV11, []byte(`{"delete":{"status":{"id":1,"id_str":"1","user_id":3,"user_id_str":"3"}}}`), ""},
		{"v1.1 missing id", FromV11, []byte(`{"text":"x","created_at":"Wed Oct 10 20:19:24 +0000 2018"}`), ReasonMissingField},
		{"v1.1 bad timestamp", FromV11, []byte(`{"id_str":"1","timestamp_ms":"soon"}`), ReasonBadValue},
		{"v1.1 not an object", FromV11, []byte(`[1,2]`), ReasonInvalidJSON},
		{"jetstream no time_us", jet, []byte(`{"did":"did:plc:x","kind":"commit"}`), ReasonMissingField},
		{"jetstream identity", jet, []byte(`{"did":"did:plc:x","time_us":1,"kind":"identity","identity":{"did":"did:plc:x","handle":"x.bsky.social"}}`), ""},
		{"jetstream delete", jet, []byte(`{"did":"did:plc:x","time_us":1,"kind":"commit","commit":{"operation":"delete","collection":"app.bsky.feed.post","rkey":"a"}}`), ""},
		{"jetstream like", jet, []byte(`{"did":"did:plc:x","time_us":1,"kind":"commit","commit":{"operation":"create","collection":"app.bsky.feed.like","rkey":"a","record":{}}}`), ""},
		{"jetstream record not object", jet, []byte(`{"did":"did:plc:x","time_us":1,"kind":"commit","commit":{"operation":"create","collection":"app.bsky.feed.post","rkey":"a","record":"x"}}`), ReasonInvalidJSON},
		{"jetstream missing rkey", jet, []byte(`{"did":"did:plc:x","time_us":1,"kind":"commit","commit":{"operation":"create","collection":"app.bsky.feed.post","record":{"text":"x"}}}`), ReasonMissingField},
		{"canonical missing id", DecodeCanonical, []byte(`{"created_at":"Wed Oct 10 20:19:24 +0000 2018","timestamp_ms":"1"}`), ReasonMissingField},
		{"canonical bad created_at", DecodeCanonical, []byte(`{"id_str":"1","created_at":"2018-10-10","timestamp_ms":"1"}`), ReasonBadValue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.convert(tc.raw)
			if err == nil {
				t.Fatal("accepted")
			}
			if tc.wantReason == "" {
				if !errors.Is(err, ErrNotPost) {
					t.Fatalf("err %v, want ErrNotPost", err)
				}
				return
			}
			if got := MalformedReason(err); got != tc.wantReason {
				t.Fatalf("reason %q (%v), want %q", got, err, tc.wantReason)
			}
			if len(err.Error()) > 200 {
				t.Errorf("error message quotes the input: %d bytes", len(err.Error()))
			}
		})
	}
}

func jet(raw []byte) (Document, error) { return FromJetstream(raw, Profile{}) }

func TestJetstreamFacetOffsetsOutOfRange(t *testing.T) {
	raw := []byte(`{"did":"did:plc:x","time_us":1725911162329308,"kind":"commit","commit":{"operation":"create","collection":"app.bsky.feed.post","rkey":"r","record":{"text":"é #a","facets":[{"index":{"byteStart":1,"byteEnd":4},"features":[{"$type":"app.bsky.richtext.facet#tag","tag":"mid"}]},{"index":{"byteStart":3,"byteEnd":99},"features":[{"$type":"app.bsky.richtext.facet#tag","tag":"far"}]},{"index":{"byteStart":3,"byteEnd":5},"features":[{"$type":"app.bsky.richtext.facet#tag","tag":"#a"}]}]}}}`)
	d, err := FromJetstream(raw, Profile{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Hashtag{{Text: "mid", Indices: []int{}}, {Text: "far", Indices: []int{}}, {Text: "a", Indices: []int{2, 4}}}
	if !reflect.DeepEqual(d.Entities.Hashtags, want) {
		t.Errorf("hashtags %+v, want %+v", d.Entities.Hashtags, want)
	}
}

func TestConvertAutoDetect(t *testing.T) {
	tests := []struct {
		name       string
		file       string
		wantFormat Format
		wantSource string
	}{
		{"x v2 messages", "xv2.ndjson", FormatXV2, SourceReplay},
		{"v1.1 statuses", "v11.ndjson", FormatV11, SourceReplay},
		{"canonical documents keep their source", "canonical.ndjson", FormatCanonical, SourceX},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, l := range sampleLines(t, tc.file) {
				f, err := Detect(l)
				if err != nil || f != tc.wantFormat {
					t.Fatalf("Detect = %q, %v; want %q", f, err, tc.wantFormat)
				}
				d, err := Convert(FormatAuto, l)
				if err != nil {
					t.Fatal(err)
				}
				if d.Source != tc.wantSource {
					t.Errorf("source %q, want %q", d.Source, tc.wantSource)
				}
			}
		})
	}
}

func TestCanonicalRoundTrip(t *testing.T) {
	for _, l := range sampleLines(t, "canonical.ndjson") {
		d, err := DecodeCanonical(l)
		if err != nil {
			t.Fatal(err)
		}
		b, err := d.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, l) {
			t.Errorf("re-encoded\n%s\nwant\n%s", b, l)
		}
	}
}

// checkDocument is the property every converter output keeps.
func checkDocument(t *testing.T, d Document) {
	t.Helper()
	if err := d.Validate(); err != nil {
		t.Fatalf("converter returned an invalid document: %v", err)
	}
	b, err := d.Marshal()
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if !utf8.Valid(b) {
		t.Fatal("marshalled document is not UTF-8")
	}
	back, err := DecodeCanonical(b)
	if err != nil {
		t.Fatalf("document does not decode as canonical: %v", err)
	}
	if !reflect.DeepEqual(back, d) {
		t.Fatalf("round trip changed the document:\n%+v\n%+v", back, d)
	}
	for _, h := range d.Entities.Hashtags {
		if h.Text == "" || (len(h.Indices) != 0 && len(h.Indices) != 2) {
			t.Fatalf("bad hashtag %+v", h)
		}
	}
}

func fuzzSeeds(f *testing.F, file string) {
	for _, l := range sampleLines(f, file) {
		f.Add(l)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte("{\"text\":\"\xc3\"}"))
}

func FuzzFromXV2(f *testing.F) {
	fuzzSeeds(f, "xv2.ndjson")
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := FromXV2(raw)
		if err != nil {
			if !errors.Is(err, ErrNotPost) && MalformedReason(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		checkDocument(t, d)
	})
}

func FuzzFromV11(f *testing.F) {
	fuzzSeeds(f, "v11.ndjson")
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := FromV11(raw)
		if err != nil {
			if !errors.Is(err, ErrNotPost) && MalformedReason(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		checkDocument(t, d)
	})
}

func FuzzFromJetstream(f *testing.F) {
	fuzzSeeds(f, "jetstream.ndjson")
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := FromJetstream(raw, Profile{Handle: "h.bsky.social", FollowersCount: 3})
		if err != nil {
			if !errors.Is(err, ErrNotPost) && MalformedReason(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		checkDocument(t, d)
		for _, h := range d.Entities.Hashtags {
			if len(h.Indices) == 2 {
				r := []rune(d.Text)
				if h.Indices[0] < 0 || h.Indices[1] > len(r) || h.Indices[0] > h.Indices[1] {
					t.Fatalf("indices %v outside text of %d runes", h.Indices, len(r))
				}
			}
		}
	})
}

func FuzzConvertAuto(f *testing.F) {
	fuzzSeeds(f, "canonical.ndjson")
	for _, name := range []string{"xv2.ndjson", "v11.ndjson"} {
		for _, l := range sampleLines(f, name) {
			f.Add(l)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := Convert(FormatAuto, raw)
		if err != nil {
			if !errors.Is(err, ErrNotPost) && MalformedReason(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		checkDocument(t, d)
	})
}

func TestDocumentJSONNames(t *testing.T) {
	d := NewGenerator(1).Next(time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC))
	b, _ := d.Marshal()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id_str", "created_at", "timestamp_ms", "text", "lang", "user", "entities", "source"} {
		if _, ok := m[k]; !ok {
			t.Errorf("missing %q in %s", k, b)
		}
	}
	u := m["user"].(map[string]any)
	for _, k := range []string{"id_str", "screen_name", "name", "followers_count"} {
		if _, ok := u[k]; !ok {
			t.Errorf("missing user.%q", k)
		}
	}
	if m["timestamp_ms"] != "1795665600000" || m["created_at"] != "Thu Nov 26 04:00:00 +0000 2026" {
		t.Errorf("time fields %v %v", m["timestamp_ms"], m["created_at"])
	}
}
