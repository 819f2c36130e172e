package dashboard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/streamdash/streamdash/internal/panels/panelstest"
	"github.com/streamdash/streamdash/internal/tweet"
)

const chromiumPath = "/usr/bin/chromium"

// screenshotDir holds the screenshots, a test artifact (gitignored).
const screenshotDir = "testdata/screenshots"

// netCapture keeps every response body and every event-stream message the
// page receives, from the browser's side.
type netCapture struct {
	mu       sync.Mutex
	urls     []string
	bodies   map[network.RequestID]string // URL by request, for bodies to fetch
	finished []network.RequestID
	messages []string
}

func (c *netCapture) listen(ev any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventResponseReceived:
		c.urls = append(c.urls, ev.Response.URL)
		c.bodies[ev.RequestID] = ev.Response.URL
	case *network.EventLoadingFinished:
		c.finished = append(c.finished, ev.RequestID)
	case *network.EventEventSourceMessageReceived:
		c.messages = append(c.messages, ev.Data)
	}
}

// fetchBodies reads the bodies of the responses finished so far.
func (c *netCapture) fetchBodies(ctx context.Context) (map[string][]byte, error) {
	c.mu.Lock()
	ids := append([]network.RequestID(nil), c.finished...)
	c.finished = nil
	c.mu.Unlock()
	out := map[string][]byte{}
	for _, id := range ids {
		res, err := chromedp.Call(ctx, network.GetResponseBody, network.GetResponseBodyParams{RequestID: id})
		if err != nil {
			continue // an event stream has no body to fetch; its messages are captured instead
		}
		c.mu.Lock()
		out[c.bodies[id]] = res.Body
		c.mu.Unlock()
	}
	return out, nil
}

func newBrowser(t *testing.T) context.Context {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("no %s (hack/chromium.sh installs it): %v", chromiumPath, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.WindowSize(1200, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// waitJS polls a JavaScript condition until it is true.
func waitJS(t *testing.T, ctx context.Context, what, expr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func evalJSON[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](`JSON.stringify(`+expr+`)`))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decoding %s: %v", s, err)
	}
	return v
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(screenshotDir, name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// panelsFilled is true when every panel on the page has data.
const panelsFilled = `window.streamdash && window.streamdash.updates > 0 &&
  [...document.querySelectorAll('.panel')].every(p => p.dataset.updated)`

type cardRow struct {
	Hashtag string `json:"hashtag"`
	N       string `json:"n"`
}

const readCards = `(sel) => [...document.querySelectorAll(sel + ' .cards a')].map(a => ({hashtag: a.dataset.hashtag, n: a.querySelector('.n').textContent}))`

func cards(t *testing.T, ctx context.Context, panel string) []cardRow {
	return evalJSON[[]cardRow](t, ctx, `(`+readCards+`)('#panel-`+panel+`')`)
}

func wantCards(in []panelstest.HashtagCount) []cardRow {
	out := make([]cardRow, len(in))
	for i, h := range in {
		out[i] = cardRow{Hashtag: h.Hashtag, N: fmt.Sprint(h.Tweets)}
	}
	return out
}

func testBrowser(t *testing.T, e *env) {
	ctx := newBrowser(t)
	capture := &netCapture{bodies: map[network.RequestID]string{}}
	if err := chromedp.Listen(ctx, capture.listen); err != nil {
		t.Fatal(err)
	}

	// Tweets view: every panel filled with the expected values.
	if err := chromedp.Do(ctx, chromedp.Navigate(e.url+"/tweets")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "tweets view panels filled", panelsFilled, 30*time.Second)
	hourAgo := time.Now().Add(-time.Hour)
	if got, want := cards(t, ctx, "topHashtags"), wantCards(panelstest.TopHashtags(e.docs, hourAgo, 8)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Top Hashtags cards = %v, want %v", got, want)
	}
	ids := evalJSON[[]string](t, ctx, `[...document.querySelectorAll('#panel-liveTweets li')].map(li => li.dataset.id)`)
	var wantIDs []string
	for i := len(e.docs) - 1; i >= len(e.docs)-7; i-- {
		wantIDs = append(wantIDs, e.docs[i].IDStr)
	}
	if fmt.Sprint(ids) != fmt.Sprint(wantIDs) {
		t.Errorf("Live Tweets ids = %v, want the 7 newest %v", ids, wantIDs)
	}
	for _, p := range []string{"liveTweets", "topHashtags", "incoming"} {
		lat := evalJSON[string](t, ctx, `document.querySelector('#panel-`+p+` .latency').textContent`)
		if !strings.HasSuffix(lat, " ms") {
			t.Errorf("panel %s shows latency %q", p, lat)
		}
	}

	// The chart gains points as tweets keep arriving.
	type chartState struct {
		Points int   `json:"points"`
		Last   int64 `json:"last"`
	}
	chart := func() chartState {
		return evalJSON[chartState](t, ctx, `({points: window.streamdash.chartPoints || 0, last: window.streamdash.chartLast || 0})`)
	}
	before := chart()
	if before.Points < 20 {
		t.Errorf("chart starts with %d points, want the last 20 at least", before.Points)
	}
	feedCtx, stopFeed := context.WithCancel(context.Background())
	feedDone := make(chan struct{})
	go func() { defer close(feedDone); feed(feedCtx, e) }()
	waitJS(t, ctx, "chart gains points", fmt.Sprintf(`window.streamdash.chartPoints >= %d && window.streamdash.chartLast > %d`, before.Points+2, before.Last), 30*time.Second)
	stopFeed()
	<-feedDone
	screenshot(t, ctx, "tweets-view")

	// Clicking a hashtag opens its view with the expected panels.
	tag := panelstest.TopHashtags(e.docs, hourAgo, 8)[0].Hashtag
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#panel-topHashtags .cards a[data-hashtag="`+tag+`"]`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "hashtag view", `location.pathname === "/hashtag/`+url.PathEscape(tag)+`" && document.body.dataset.view === "hashtag"`, 15*time.Second)
	waitJS(t, ctx, "hashtag view panels filled", panelsFilled, 30*time.Second)
	hourAgo = time.Now().Add(-time.Hour)
	if got, want := cards(t, ctx, "relatedHashtags"), wantCards(panelstest.RelatedHashtags(e.docs, tag, hourAgo, 8)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Related Hashtags = %v, want %v", got, want)
	}
	type person struct {
		Who string `json:"who"`
		N   string `json:"n"`
	}
	people := evalJSON[[]person](t, ctx, `[...document.querySelectorAll('#panel-influencers li')].map(li => ({who: li.querySelector('.who').textContent, n: li.querySelector('.n').textContent}))`)
	wantInf := panelstest.Influencers(e.docs, tag, hourAgo, 5)
	if len(people) != len(wantInf) {
		t.Errorf("Influencers = %v, want %v", people, wantInf)
	} else {
		for i, w := range wantInf {
			if people[i].Who != "@"+w.ScreenName {
				t.Errorf("influencer %d = %v, want %v", i, people[i], w)
			}
		}
	}
	screenshot(t, ctx, "hashtag-view")

	// A hostile hashtag in the URL is just a hashtag with no tweets.
	if err := chromedp.Do(ctx, chromedp.Navigate(e.url+"/hashtag/"+url.PathEscape(`x' OR '1'='1`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "injection view panels filled", panelsFilled, 30*time.Second)
	rows := evalJSON[int](t, ctx, `document.querySelectorAll('.panel li').length`)
	empties := evalJSON[int](t, ctx, `document.querySelectorAll('.panel.is-empty').length`)
	title := evalJSON[string](t, ctx, `document.getElementById('title').textContent`)
	if rows != 0 || empties != 3 || title != `#x' or '1'='1` {
		t.Errorf("injection view: %d rows, %d empty panels, title %q; want 0, 3, #x' or '1'='1", rows, empties, title)
	}

	// Phone-sized screen: the panels stack and nothing overflows sideways.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(e.url+"/tweets")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "phone view panels filled", panelsFilled, 30*time.Second)
	if overflow := evalJSON[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth`); overflow {
		t.Errorf("page overflows a 390px-wide screen")
	}
	screenshot(t, ctx, "tweets-view-phone")

	// No byte the page received holds the API key; nothing came from elsewhere.
	bodies, err := capture.fetchBodies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	capture.mu.Lock()
	urls, messages := capture.urls, capture.messages
	capture.mu.Unlock()
	key := []byte(e.f.APIKey)
	if len(bodies) < 4 || len(messages) < 5 {
		t.Fatalf("captured too little to judge: %d bodies, %d event messages", len(bodies), len(messages))
	}
	for u, b := range bodies {
		if bytes.Contains(b, key) {
			t.Errorf("response %s contains the API key", u)
		}
	}
	for _, m := range messages {
		if strings.Contains(m, e.f.APIKey) || strings.Contains(m, "SELECT") {
			t.Errorf("event message contains the API key or SQL")
		}
	}
	if bytes.Contains([]byte(html), key) {
		t.Errorf("the page's DOM contains the API key")
	}
	if all := e.bytes.bytes(); len(all) == 0 || bytes.Contains(all, key) || bytes.Contains(all, []byte("SELECT ")) {
		t.Errorf("the dashboard server sent %d bytes including the key or SQL", len(all))
	}
	for _, u := range urls {
		if !strings.HasPrefix(u, e.url) && !strings.HasPrefix(u, "data:") {
			t.Errorf("page loaded %s from outside the dashboard", u)
		}
	}
}

// feed writes one tweet without hashtags every 200ms (so the hashtag panels'
// expected values stay put) until ctx ends.
func feed(ctx context.Context, e *env) {
	g := tweet.NewGenerator(99)
	tk := time.NewTicker(200 * time.Millisecond)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		d := g.Next(time.Now())
		d.Entities.Hashtags = nil
		_ = e.f.PutAsync(ctx, []tweet.Document{d})
	}
}
