package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/test/apitest"
)

const chromiumPath = "/usr/bin/chromium"

// checkBrowser opens the LiveDashboard's page, served by the dashboard pod
// the operator created, in headless Chromium and checks that its Top
// Hashtags panel shows want, the same numbers as the resource's status.
func checkBrowser(t *testing.T, ns, name string, want []v1alpha1.HashtagCount) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("no %s (make test installs it with hack/chromium.sh): %v", chromiumPath, err)
	}
	urls, err := cluster.DashboardURLs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	local := ""
	for _, u := range urls {
		if u.Namespace == ns && u.Name == name {
			local = u.LocalURL
		}
	}
	if local == "" {
		t.Fatalf("no local URL for dashboard %s/%s in %+v", ns, name, urls)
	}

	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.WindowSize(1200, 900))
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelTimeout()

	if err := chromedp.Do(ctx, chromedp.Navigate(local+"/tweets")); err != nil {
		t.Fatal(err)
	}
	type card struct {
		Hashtag string `json:"hashtag"`
		N       string `json:"n"`
	}
	var wantCards []card
	for _, h := range want {
		wantCards = append(wantCards, card{h.Hashtag, fmt.Sprint(h.TweetCount)})
	}
	var got []card
	deadline := time.Now().Add(60 * time.Second)
	for {
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify([...document.querySelectorAll('#panel-topHashtags .cards a')]
			.map(a => ({hashtag: a.dataset.hashtag, n: a.querySelector('.n').textContent})))`))
		if err == nil && json.Unmarshal([]byte(raw), &got) == nil && fmt.Sprint(got) == fmt.Sprint(wantCards) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Top Hashtags panel shows %v, want %v (err %v)", got, wantCards, err)
		}
		time.Sleep(250 * time.Millisecond)
	}

	html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, cluster.APIKey()) {
		t.Error("the page contains the API key")
	}

	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	root, _ := apitest.RepoRoot()
	dir := filepath.Join(root, "test", "e2e", "artifacts")
	if err := os.MkdirAll(dir, 0o755); err == nil {
		p := filepath.Join(dir, ns+"-"+name+".png")
		if err := os.WriteFile(p, shot, 0o644); err == nil {
			t.Logf("screenshot: %s", p)
		}
	}
}
