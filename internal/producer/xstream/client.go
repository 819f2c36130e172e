// Package xstream reads the X API v2 filtered stream: it syncs the
// pipeline's rules declaratively, connects with the fields and expansions
// the canonical document needs, and reconnects as X's guidance says.
package xstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamdash/streamdash/internal/tweet"
)

// DefaultEndpoint is X's API host.
const DefaultEndpoint = "https://api.x.com"

// StreamQuery asks for what the canonical document needs.
const StreamQuery = "tweet.fields=created_at,entities,author_id,lang&expansions=author_id&user.fields=username,name,public_metrics"

// Sink receives the stream's documents and counters; *postqueue.Sink is one.
type Sink interface {
	Emit(ctx context.Context, d tweet.Document) error
	Malformed(err error)
	Reconnected()
}

// Config configures a Client.
type Config struct {
	Endpoint    string // [DefaultEndpoint]
	BearerToken string // app-only token; never logged
	Rules       []Rule // wanted rules; tags get TagPrefix
	TagPrefix   string // marks the rules this pipeline owns
	HTTPClient  *http.Client
	Backoff     Backoff // [DefaultBackoff()]
	Log         *slog.Logger
	// Wait sleeps d or until ctx ends [a timer]; tests replace it to
	// observe the reconnection schedule without living through it.
	Wait func(ctx context.Context, d time.Duration) error
	// Now is the clock used with x-rate-limit-reset [time.Now].
	Now func() time.Time
}

// Client is a filtered-stream reader.
type Client struct {
	cfg   Config
	rules []Rule
	http  *http.Client
	log   *slog.Logger

	mu          sync.Mutex
	rateResetAt time.Time // set when x-rate-limit-remaining hit 0
	connections atomic.Int64
}

// New validates cfg and returns a client.
func New(cfg Config) (*Client, error) {
	if cfg.BearerToken == "" {
		return nil, errors.New("xstream: a bearer token is required (X_BEARER_TOKEN)")
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = DefaultEndpoint
	}
	cfg.Endpoint = strings.TrimRight(cfg.Endpoint, "/")
	if cfg.Backoff == (Backoff{}) {
		cfg.Backoff = DefaultBackoff()
	}
	if cfg.Wait == nil {
		cfg.Wait = sleep
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Client{cfg: cfg, rules: OwnedRules(cfg.Rules, cfg.TagPrefix), http: cfg.HTTPClient, log: cfg.Log}
	if c.http == nil {
		// No overall timeout: the stream is one endless response. The idle
		// timeout below is what detects a dead connection.
		c.http = &http.Client{}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) authorize(r *http.Request) {
	r.Header.Set("Authorization", "Bearer "+c.cfg.BearerToken)
	r.Header.Set("User-Agent", "streamdash-producer")
}

// noteRateLimit remembers when the window resets if it is exhausted.
func (c *Client) noteRateLimit(h http.Header) {
	rem, err1 := strconv.Atoi(h.Get("x-rate-limit-remaining"))
	reset, err2 := strconv.ParseInt(h.Get("x-rate-limit-reset"), 10, 64)
	if err1 != nil || err2 != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if rem <= 0 {
		c.rateResetAt = time.Unix(reset, 0)
	} else {
		c.rateResetAt = time.Time{}
	}
}

// untilReset is how long until an exhausted rate-limit window resets.
func (c *Client) untilReset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rateResetAt.IsZero() {
		return 0
	}
	return c.rateResetAt.Sub(c.cfg.Now())
}

// Run syncs the rules, then reads the stream into sink until ctx ends,
// reconnecting as X asks. It returns nil when ctx ends, or a *RuleError
// when X refuses the rules.
func (c *Client) Run(ctx context.Context, sink Sink) error {
	if err := c.syncRulesRetrying(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	var netFails, httpFails, rateFails int
	var delay time.Duration
	var attempts []time.Time // connection attempts inside the window
	for attempt := 0; ; attempt++ {
		if wait := c.untilReset(); wait > delay {
			delay = wait
		}
		if b := c.cfg.Backoff; b.MaxConnects > 0 {
			now := c.cfg.Now()
			for len(attempts) > 0 && now.Sub(attempts[0]) >= b.ConnectWindow {
				attempts = attempts[1:]
			}
			if len(attempts) >= b.MaxConnects {
				if wait := attempts[0].Add(b.ConnectWindow).Sub(now); wait > delay {
					delay = wait
				}
			}
		}
		if err := c.cfg.Wait(ctx, delay); err != nil || ctx.Err() != nil {
			return nil
		}
		if attempt > 0 {
			sink.Reconnected()
		}
		attempts = append(attempts, c.cfg.Now())
		res := c.connect(ctx, sink)
		if ctx.Err() != nil {
			return nil
		}
		switch res.kind {
		case resultDelivered:
			// An established connection dropped: reconnect at once, and
			// back off only if that fails.
			netFails, httpFails, rateFails = 0, 0, 0
			delay = 0
		case resultNetwork:
			netFails++
			delay = c.cfg.Backoff.Network(netFails)
		case resultHTTP:
			httpFails++
			delay = c.cfg.Backoff.HTTP(httpFails)
		case resultRateLimited:
			rateFails++
			delay = c.cfg.Backoff.RateLimited(rateFails)
		}
		c.log.Info("filtered stream disconnected", "reason", res.reason, "next attempt in", delay.String())
	}
}

func (c *Client) syncRulesRetrying(ctx context.Context) error {
	for n := 1; ; n++ {
		added, deleted, err := c.SyncRules(ctx)
		if err == nil {
			c.log.Info("filtered stream rules synced", "added", added, "deleted", deleted, "wanted", len(c.rules))
			return nil
		}
		var re *RuleError
		if errors.As(err, &re) || ctx.Err() != nil {
			return err
		}
		d := c.cfg.Backoff.HTTP(n)
		var se *httpStatusError
		if errors.As(err, &se) && se.Status == http.StatusTooManyRequests {
			d = max(c.cfg.Backoff.RateLimited(n), c.untilReset())
		}
		c.log.Warn("syncing filtered stream rules failed; retrying", "error", err.Error(), "next attempt in", d.String())
		if err := c.cfg.Wait(ctx, d); err != nil {
			return err
		}
	}
}

type resultKind int

const (
	resultDelivered   resultKind = iota // connected and received bytes, then the connection ended
	resultNetwork                       // could not connect, or the connection died silent
	resultHTTP                          // an HTTP error status
	resultRateLimited                   // 429
)

type result struct {
	kind   resultKind
	reason string
}

// connect opens one stream connection and reads it until it ends.
func (c *Client) connect(ctx context.Context, sink Sink) result {
	connCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(connCtx, http.MethodGet, c.cfg.Endpoint+"/2/tweets/search/stream?"+StreamQuery, nil)
	if err != nil {
		return result{resultNetwork, err.Error()}
	}
	c.authorize(req)
	c.connections.Add(1)

	// The idle timer covers the response headers too: a server that
	// accepts and then says nothing is as dead as one that stops talking.
	var idle atomic.Bool
	timer := time.AfterFunc(c.cfg.Backoff.IdleTimeout, func() { idle.Store(true); cancel() })
	defer timer.Stop()

	resp, err := c.http.Do(req)
	if err != nil {
		if idle.Load() {
			return result{resultNetwork, "no response within the idle timeout"}
		}
		return result{resultNetwork, "connect: " + err.Error()}
	}
	defer resp.Body.Close()
	c.noteRateLimit(resp.Header)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		reason := fmt.Sprintf("HTTP %d %s", resp.StatusCode, problemTitle(b))
		if resp.StatusCode == http.StatusTooManyRequests {
			return result{resultRateLimited, reason}
		}
		return result{resultHTTP, reason}
	}
	timer.Reset(c.cfg.Backoff.IdleTimeout)
	body := &idleReader{r: resp.Body, timer: timer, idle: c.cfg.Backoff.IdleTimeout}
	reason := c.read(connCtx, bufio.NewReaderSize(body, 64<<10), sink)
	if idle.Load() {
		reason = "no data or keep-alive for " + c.cfg.Backoff.IdleTimeout.String()
	}
	if body.n == 0 {
		return result{resultNetwork, reason}
	}
	return result{resultDelivered, reason}
}

// idleReader restarts the idle timer on every byte received.
type idleReader struct {
	r     io.Reader
	timer *time.Timer
	idle  time.Duration
	n     int64
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.n += int64(n)
		r.timer.Reset(r.idle)
	}
	return n, err
}

// read handles lines until the connection ends or X announces a
// disconnect, and says why it stopped.
func (c *Client) read(ctx context.Context, br *bufio.Reader, sink Sink) string {
	var long []byte
	tooLarge := false
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if !tooLarge && len(long)+len(line) <= tweet.MaxMessageBytes {
				long = append(long, line...)
			} else {
				tooLarge, long = true, nil
			}
			continue
		}
		if tooLarge {
			tooLarge = false
			sink.Malformed(&tweet.MalformedError{Reason: tweet.ReasonTooLarge, Err: errors.New("stream line exceeds the message size limit")})
			if err != nil {
				return "read: " + err.Error()
			}
			continue
		}
		if len(long) > 0 {
			line = append(long, line...)
			long = long[:0]
		}
		if err != nil {
			// A partial line at the end of a connection is an incomplete
			// message, not a post.
			if len(bytes.TrimSpace(line)) > 0 {
				sink.Malformed(&tweet.MalformedError{Reason: "truncated", Err: errors.New("connection ended mid-message")})
			}
			if errors.Is(err, io.EOF) {
				return "server closed the connection"
			}
			return "read: " + err.Error()
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue // keep-alive
		}
		if stop := c.handle(ctx, line, sink); stop != "" {
			return stop
		}
	}
}

// handle processes one message; a non-empty result ends the connection.
func (c *Client) handle(ctx context.Context, line []byte, sink Sink) string {
	m, err := tweet.ParseXV2(line)
	if err != nil {
		sink.Malformed(err)
		return ""
	}
	if m.Data == nil && len(m.Errors) > 0 {
		for _, e := range m.Errors {
			if e.IsOperationalDisconnect() {
				c.log.Warn("x operational disconnect", "title", e.Title, "disconnect_type", e.DisconnectType, "detail", truncate(e.Detail, 200))
				return "operational disconnect: " + e.DisconnectType
			}
		}
		c.log.Warn("x stream error message", "title", m.Errors[0].Title, "detail", truncate(m.Errors[0].Detail, 200))
		return ""
	}
	d, err := m.Document()
	if err != nil {
		if !errors.Is(err, tweet.ErrNotPost) {
			sink.Malformed(err)
		}
		return ""
	}
	_ = sink.Emit(ctx, d) // a full queue is counted by the sink; the reader must not stall
	return ""
}

// Connections is how many stream connections were attempted.
func (c *Client) Connections() int64 { return c.connections.Load() }
