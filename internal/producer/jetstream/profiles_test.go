package jetstream

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/streamdash/streamdash/internal/producer/jetstream/jetstreamtest"
	"github.com/streamdash/streamdash/internal/tweet"
)

// fakeAppView answers app.bsky.actor.getProfiles for did:plc:userN with
// handle userN.bsky.social and N*10 followers; did:plc:gone is unknown.
type fakeAppView struct {
	mu       sync.Mutex
	requests [][]string
}

func (f *fakeAppView) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/xrpc/app.bsky.actor.getProfiles" {
		http.NotFound(w, r)
		return
	}
	actors := r.URL.Query()["actors"]
	f.mu.Lock()
	f.requests = append(f.requests, actors)
	f.mu.Unlock()
	if len(actors) > MaxActorsPerRequest {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"InvalidRequest","message":"Error: actors must not have more than 25 elements"}`)
		return
	}
	var profiles []map[string]any
	for _, a := range actors {
		var n int
		if _, err := fmt.Sscanf(a, "did:plc:user%d", &n); err != nil {
			continue
		}
		profiles = append(profiles, map[string]any{"did": a, "handle": fmt.Sprintf("user%d.bsky.social", n), "displayName": fmt.Sprintf("User %d", n), "followersCount": n * 10, "followsCount": 3, "postsCount": 9})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"profiles": profiles})
}

func (f *fakeAppView) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func TestProfilesBatchedCachedOffTheHotPath(t *testing.T) {
	av := &fakeAppView{}
	srv := httptest.NewServer(av)
	defer srv.Close()
	p := NewProfiles(ProfilesConfig{API: srv.URL, Rate: rate.Inf, BatchWait: 20 * time.Millisecond})

	// Misses answer at once with nothing, before Run even starts.
	var dids []string
	for i := 1; i <= 60; i++ {
		d := fmt.Sprintf("did:plc:user%d", i)
		dids = append(dids, d)
		if prof, ok := p.Lookup(d); ok || prof != (tweet.Profile{}) {
			t.Fatalf("miss returned %+v %v", prof, ok)
		}
	}
	p.Lookup("did:plc:gone")
	p.Lookup("did:plc:user1") // already pending: not queued twice

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	waitFor(t, "all profiles cached", func() bool {
		for _, d := range append(dids, "did:plc:gone") {
			if _, ok := p.Lookup(d); !ok {
				return false
			}
		}
		return true
	})
	if prof, _ := p.Lookup("did:plc:user7"); prof != (tweet.Profile{Handle: "user7.bsky.social", DisplayName: "User 7", FollowersCount: 70}) {
		t.Errorf("user7 %+v", prof)
	}
	if prof, ok := p.Lookup("did:plc:gone"); !ok || prof != (tweet.Profile{}) {
		t.Errorf("unknown actor should be cached as unknown: %+v %v", prof, ok)
	}
	av.mu.Lock()
	total := 0
	for _, r := range av.requests {
		if len(r) > MaxActorsPerRequest {
			t.Errorf("request with %d actors", len(r))
		}
		total += len(r)
	}
	n := len(av.requests)
	av.mu.Unlock()
	if total != 61 {
		t.Errorf("%d actors requested, want 61 (each once)", total)
	}
	if n != 3 {
		t.Errorf("%d requests for 61 actors, want 3 batches of at most 25", n)
	}

	// Cached: more lookups ask nothing.
	for _, d := range dids {
		p.Lookup(d)
	}
	if av.count() != n {
		t.Errorf("cached lookups sent %d requests", av.count()-n)
	}
}

func TestProfilesRateLimited(t *testing.T) {
	av := &fakeAppView{}
	srv := httptest.NewServer(av)
	defer srv.Close()
	// Two requests allowed, then one per hour.
	p := NewProfiles(ProfilesConfig{API: srv.URL, Rate: rate.Every(time.Hour), Burst: 2, BatchWait: time.Millisecond})
	for i := 1; i <= 100; i++ {
		p.Lookup(fmt.Sprintf("did:plc:user%d", i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	waitFor(t, "the burst", func() bool { return av.count() == 2 })
	cached := 0
	for i := 1; i <= 100; i++ {
		p.mu.Lock()
		if _, ok := p.cache[fmt.Sprintf("did:plc:user%d", i)]; ok {
			cached++
		}
		p.mu.Unlock()
	}
	// Run is now blocked in the limiter; cancelling must stop it.
	cancel()
	<-done
	if av.count() != 2 {
		t.Errorf("%d requests past a burst of 2", av.count())
	}
	if cached > 50 {
		t.Errorf("%d profiles cached from 2 requests", cached)
	}
}

func TestDocumentsCarryCachedProfiles(t *testing.T) {
	av := &fakeAppView{}
	api := httptest.NewServer(av)
	defer api.Close()
	p := NewProfiles(ProfilesConfig{API: api.URL, Rate: rate.Inf, BatchWait: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	p.Lookup("did:plc:user5")
	waitFor(t, "profile", func() bool { _, ok := p.Lookup("did:plc:user5"); return ok })

	evs := []jetstreamtest.Event{jetstreamtest.PostEvent(10, "did:plc:user5", "a", "hi", "en"), jetstreamtest.PostEvent(11, "did:plc:user6", "b", "yo", "en")}
	c, _ := New(Config{URL: jetstreamtest.Start(t, &jetstreamtest.Server{Events: evs}), Profiles: p})
	sink := &recordingSink{}
	cctx, ccancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(cctx, sink) }()
	waitFor(t, "two posts", func() bool { return len(sink.ids()) == 2 })
	ccancel()
	<-done
	if u := sink.docs[0].User; u != (tweet.User{IDStr: "did:plc:user5", ScreenName: "user5.bsky.social", Name: "User 5", FollowersCount: 50}) {
		t.Errorf("cached author %+v", u)
	}
	// Not cached yet: written at once with the DID and 0 followers.
	if u := sink.docs[1].User; u != (tweet.User{IDStr: "did:plc:user6", ScreenName: "did:plc:user6", Name: "did:plc:user6"}) {
		t.Errorf("uncached author %+v", u)
	}
}
