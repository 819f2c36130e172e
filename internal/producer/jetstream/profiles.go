package jetstream

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/streamdash/streamdash/internal/tweet"
)

// DefaultProfileAPI is Bluesky's public AppView.
const DefaultProfileAPI = "https://public.api.bsky.app"

// MaxActorsPerRequest is getProfiles' limit.
const MaxActorsPerRequest = 25

// ProfilesConfig configures a Profiles resolver. Zero fields take the defaults in brackets.
type ProfilesConfig struct {
	API        string       // [DefaultProfileAPI]
	HTTPClient *http.Client // [10 s timeout]
	// Rate and Burst limit requests to the API [5/s, burst 5]; the public
	// AppView allows about 3000 requests per 5 minutes per IP.
	Rate  rate.Limit
	Burst int
	// BatchWait is how long the first miss waits for others to share its request [100ms].
	BatchWait time.Duration
	TTL       time.Duration // how long a profile is trusted [1h]
	MaxCached int           // cache entries before eviction [100000]
	Log       *slog.Logger
}

// Profiles resolves DIDs to handles and follower counts off the hot path:
// Lookup answers from the cache at once and queues misses, which a
// background loop fetches in batches of 25, rate-limited.
type Profiles struct {
	cfg     ProfilesConfig
	limiter *rate.Limiter
	misses  chan string

	mu      sync.Mutex
	cache   map[string]profileEntry
	pending map[string]bool
	now     func() time.Time
}

type profileEntry struct {
	p       tweet.Profile
	fetched time.Time
}

// NewProfiles returns a resolver; call Run to start fetching.
func NewProfiles(cfg ProfilesConfig) *Profiles {
	if cfg.API == "" {
		cfg.API = DefaultProfileAPI
	}
	cfg.API = strings.TrimRight(cfg.API, "/")
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Rate == 0 {
		cfg.Rate = 5
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 5
	}
	if cfg.BatchWait <= 0 {
		cfg.BatchWait = 100 * time.Millisecond
	}
	if cfg.TTL <= 0 {
		cfg.TTL = time.Hour
	}
	if cfg.MaxCached <= 0 {
		cfg.MaxCached = 100000
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Profiles{
		cfg:     cfg,
		limiter: rate.NewLimiter(cfg.Rate, cfg.Burst),
		misses:  make(chan string, 10000),
		cache:   make(map[string]profileEntry),
		pending: make(map[string]bool),
		now:     time.Now,
	}
}

// Lookup returns the cached profile of did. On a miss (or a stale entry) it
// queues did for fetching and returns what it has, never waiting.
func (p *Profiles) Lookup(did string) (tweet.Profile, bool) {
	p.mu.Lock()
	e, ok := p.cache[did]
	fresh := ok && p.now().Sub(e.fetched) < p.cfg.TTL
	queue := !fresh && !p.pending[did]
	if queue {
		p.pending[did] = true
	}
	p.mu.Unlock()
	if queue {
		select {
		case p.misses <- did:
		default:
			// The fetch queue is full: forget it, a later post asks again.
			p.mu.Lock()
			delete(p.pending, did)
			p.mu.Unlock()
		}
	}
	return e.p, ok
}

// Run fetches queued misses until ctx ends.
func (p *Profiles) Run(ctx context.Context) {
	for {
		var batch []string
		select {
		case <-ctx.Done():
			return
		case did := <-p.misses:
			batch = append(batch, did)
		}
		timer := time.NewTimer(p.cfg.BatchWait)
	fill:
		for len(batch) < MaxActorsPerRequest {
			select {
			case did := <-p.misses:
				batch = append(batch, did)
			case <-timer.C:
				break fill
			case <-ctx.Done():
				timer.Stop()
				return
			}
		}
		timer.Stop()
		if err := p.limiter.Wait(ctx); err != nil {
			return
		}
		found, err := p.fetch(ctx, batch)
		p.mu.Lock()
		for _, did := range batch {
			delete(p.pending, did)
			if err != nil {
				continue
			}
			if len(p.cache) >= p.cfg.MaxCached {
				p.evictLocked()
			}
			// An actor missing from the answer (deleted, suspended) is
			// cached as unknown, so it is not asked for again and again.
			p.cache[did] = profileEntry{p: found[did], fetched: p.now()}
		}
		p.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			p.cfg.Log.Warn("profile lookup failed", "actors", len(batch), "error", err.Error())
		}
	}
}

// evictLocked drops about a tenth of the cache, in map order: cheap, and
// a dropped author is simply fetched again on their next post.
func (p *Profiles) evictLocked() {
	n := len(p.cache) / 10
	for did := range p.cache {
		if n <= 0 {
			break
		}
		delete(p.cache, did)
		n--
	}
}

func (p *Profiles) fetch(ctx context.Context, dids []string) (map[string]tweet.Profile, error) {
	q := url.Values{}
	for _, d := range dids {
		q.Add("actors", d)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.cfg.API+"/xrpc/app.bsky.actor.getProfiles?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("getProfiles answered HTTP %d", resp.StatusCode)
	}
	var body struct {
		Profiles []struct {
			DID            string `json:"did"`
			Handle         string `json:"handle"`
			DisplayName    string `json:"displayName"`
			FollowersCount int64  `json:"followersCount"`
		} `json:"profiles"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&body); err != nil {
		return nil, fmt.Errorf("getProfiles answer is not JSON")
	}
	out := make(map[string]tweet.Profile, len(body.Profiles))
	for _, pr := range body.Profiles {
		out[pr.DID] = tweet.Profile{Handle: pr.Handle, DisplayName: pr.DisplayName, FollowersCount: pr.FollowersCount}
	}
	return out, nil
}
