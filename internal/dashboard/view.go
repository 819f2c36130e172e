package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/streamdash/streamdash/internal/panels"
)

// Panel names, as the page and the metrics know them.
const (
	panelLiveTweets  = "liveTweets"
	panelTopHashtags = "topHashtags"
	panelIncoming    = "incoming"
	panelRelated     = "relatedHashtags"
	panelInfluencers = "influencers"
)

// panelState is one panel as the browser sees it. Rows is whatever the
// panel's query last returned successfully; on failure it stays, and Stale
// and Updated tell the viewer how old it is. Error is a reason code, never the
// analytics server's message (which may quote SQL).
type panelState struct {
	Rows      any        `json:"rows"`
	LatencyMs float64    `json:"latencyMs"`
	Updated   *time.Time `json:"updated,omitempty"`
	Stale     bool       `json:"stale"`
	Error     string     `json:"error,omitempty"`

	lastAttempt time.Time
}

// snapshot is the message pushed to every browser of a view.
type snapshot struct {
	View       string                `json:"view"`
	Hashtag    string                `json:"hashtag,omitempty"`
	Window     string                `json:"window"`
	ServerTime time.Time             `json:"serverTime"`
	Panels     map[string]panelState `json:"panels"`
}

// panelQuery runs one panel's query and returns its rows.
type panelQuery func(ctx context.Context, now time.Time) (any, panels.Latency, error)

// view polls the panels of one view (the Tweets view, or one hashtag's view)
// and fans the results out to its subscribers: one query per panel per
// interval however many browsers watch.
type view struct {
	key     string
	hashtag string
	cfg     *Config
	metrics *metrics
	log     *slog.Logger
	queries map[string]panelQuery

	mu      sync.Mutex
	state   map[string]panelState
	subs    map[chan []byte]struct{}
	last    []byte // the latest encoded snapshot, sent to new subscribers at once
	idleAt  time.Time
	cancel  context.CancelFunc
	changed chan struct{}
	done    chan struct{}
}

func newView(key, hashtag string, cfg *Config, m *metrics, log *slog.Logger, r *panels.Runner) *view {
	v := &view{
		key: key, hashtag: hashtag, cfg: cfg, metrics: m, log: log.With("view", key),
		state:   map[string]panelState{},
		subs:    map[chan []byte]struct{}{},
		changed: make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	window := cfg.Window
	if hashtag == "" {
		v.queries = map[string]panelQuery{
			panelLiveTweets: func(ctx context.Context, now time.Time) (any, panels.Latency, error) {
				return r.LiveTweets(ctx, now.Add(-panels.LiveWindow), panels.LiveTweetsShown)
			},
			panelTopHashtags: func(ctx context.Context, now time.Time) (any, panels.Latency, error) {
				return r.TopHashtags(ctx, now.Add(-window), cfg.TopN)
			},
			panelIncoming: func(ctx context.Context, now time.Time) (any, panels.Latency, error) {
				from := now.Add(-panels.ChartWindow)
				got, lat, err := r.Incoming(ctx, from)
				if err != nil {
					return nil, lat, err
				}
				return chartPoints(panels.FillBuckets(got, from, now)), lat, nil
			},
		}
	} else {
		v.queries = map[string]panelQuery{
			panelLiveTweets: func(ctx context.Context, now time.Time) (any, panels.Latency, error) {
				return r.HashtagTweets(ctx, hashtag, now.Add(-window), panels.LiveTweetsShown)
			},
			panelRelated: func(ctx context.Context, now time.Time) (any, panels.Latency, error) {
				return r.RelatedHashtags(ctx, hashtag, now.Add(-window), cfg.TopN)
			},
			panelInfluencers: func(ctx context.Context, now time.Time) (any, panels.Latency, error) {
				return r.Influencers(ctx, hashtag, now.Add(-window), min(panels.InfluencersShown, cfg.TopN))
			},
		}
	}
	for name := range v.queries {
		v.state[name] = panelState{Stale: true}
	}
	return v
}

// chartPoints is the chart's wire form: [unix seconds, tweets] pairs.
func chartPoints(bs []panels.Bucket) [][2]int64 {
	out := make([][2]int64, len(bs))
	for i, b := range bs {
		out[i] = [2]int64{b.Start.Unix(), b.Tweets}
	}
	return out
}

func (v *view) start(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	v.cancel = cancel
	var wg sync.WaitGroup
	for name, q := range v.queries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v.pollPanel(ctx, name, q)
		}()
	}
	go v.broadcastLoop(ctx)
	go func() {
		wg.Wait()
		close(v.done)
	}()
}

// pollPanel runs one panel's query every interval. A slow query delays only
// its own panel; the next run starts an interval after the previous started,
// or at once if it took longer, so slow polls never pile up.
func (v *view) pollPanel(ctx context.Context, name string, q panelQuery) {
	for {
		started := v.cfg.Now()
		v.runPanel(ctx, name, q, started)
		wait := v.cfg.Interval - v.cfg.Now().Sub(started)
		if wait < 0 {
			wait = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (v *view) runPanel(ctx context.Context, name string, q panelQuery, now time.Time) {
	var (
		rows any
		lat  panels.Latency
		err  error
	)
	func() {
		// A bug in decoding must cost a panel update, not the process.
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		qctx, cancel := context.WithTimeout(ctx, v.cfg.QueryTimeout)
		defer cancel()
		rows, lat, err = q(qctx, now)
	}()
	if ctx.Err() != nil {
		return // shutting down: not a query failure
	}
	v.metrics.observe(name, lat.Total, err)

	v.mu.Lock()
	st := v.state[name]
	st.lastAttempt = now
	if err != nil {
		reason := panels.Reason(err)
		// Logged when the failure starts or changes, not every interval.
		if reason != st.Error {
			v.log.Warn("panel query failed; retrying every interval", "panel", name, "reason", reason, "err", err)
		}
		st.Error = reason
		st.Stale = true
	} else {
		if st.Error != "" {
			v.log.Info("panel query recovered", "panel", name)
		}
		t := now.UTC()
		st.Rows, st.Updated, st.Error, st.Stale = rows, &t, "", false
		st.LatencyMs = float64(lat.Total.Microseconds()) / 1000
	}
	v.state[name] = st
	v.mu.Unlock()

	select {
	case v.changed <- struct{}{}:
	default:
	}
}

// broadcastLoop sends a snapshot whenever a panel changed, and on every
// interval marks panels stale whose last success is too old (a query that
// hangs until its timeout has not failed yet, but its data is old).
func (v *view) broadcastLoop(ctx context.Context) {
	t := time.NewTicker(v.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-v.changed:
			// The panels of one round finish close together: one message for
			// them all rather than one per panel.
			wait := time.NewTimer(min(150*time.Millisecond, v.cfg.Interval/10))
			select {
			case <-ctx.Done():
				wait.Stop()
				return
			case <-wait.C:
			}
			select {
			case <-v.changed:
			default:
			}
		case <-t.C:
			if !v.markStale() {
				continue
			}
		}
		v.broadcast()
	}
}

func (v *view) markStale() bool {
	now := v.cfg.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	changed := false
	for name, st := range v.state {
		if !st.Stale && st.Updated != nil && now.Sub(*st.Updated) > v.cfg.staleAfter() {
			st.Stale = true
			v.state[name] = st
			changed = true
		}
	}
	return changed
}

func (v *view) broadcast() {
	v.mu.Lock()
	snap := snapshot{
		View: "tweets", Hashtag: v.hashtag, Window: shortDuration(v.cfg.Window),
		ServerTime: v.cfg.Now().UTC(), Panels: make(map[string]panelState, len(v.state)),
	}
	if v.hashtag != "" {
		snap.View = "hashtag"
	}
	for k, s := range v.state {
		snap.Panels[k] = s
	}
	v.mu.Unlock()

	b, err := json.Marshal(snap)
	if err != nil {
		v.log.Error("encoding snapshot", "err", err)
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.last = b
	for ch := range v.subs {
		offer(ch, b)
	}
}

// offer puts b on ch, replacing an unread older snapshot: a slow browser
// skips updates rather than holding up the others or growing a queue.
func offer(ch chan []byte, b []byte) {
	for {
		select {
		case ch <- b:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

func (v *view) subscribe() chan []byte {
	ch := make(chan []byte, 1)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.subs[ch] = struct{}{}
	if v.last != nil {
		ch <- v.last
	}
	return ch
}

// unsubscribe removes ch and reports whether the view has no subscribers left.
func (v *view) unsubscribe(ch chan []byte) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.subs, ch)
	if len(v.subs) == 0 {
		v.idleAt = v.cfg.Now()
		return true
	}
	return false
}

func (v *view) idleSince() (time.Time, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.idleAt, len(v.subs) == 0
}

func (v *view) stop() {
	if v.cancel != nil {
		v.cancel()
	}
}
