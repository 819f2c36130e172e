// Package jetstream reads Bluesky posts from a Jetstream WebSocket: post
// creates become canonical documents, reconnects resume from the last
// cursor without loss or duplicates, and authors' handles and follower
// counts come from a cached, batched profile resolver.
package jetstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/streamdash/streamdash/internal/tweet"
)

// DefaultURL is a public Jetstream instance.
const DefaultURL = "wss://jetstream2.us-east.bsky.network/subscribe"

// Sink receives documents and counters; *postqueue.Sink is one.
type Sink interface {
	Emit(ctx context.Context, d tweet.Document) error
	Malformed(err error)
	Reconnected()
}

// Config configures a Client. Zero fields take the defaults in brackets.
type Config struct {
	URL      string   // [DefaultURL]
	Langs    []string // keep posts whose langs include one of these (empty: all)
	Keywords []string // keep posts whose text or hashtags contain one of these, any case (empty: all)
	Profiles *Profiles
	// Cursor resumes from a unix-microseconds time_us (0: live).
	Cursor int64
	// MinBackoff doubles per failed attempt up to MaxBackoff [500ms, 30s].
	MinBackoff, MaxBackoff time.Duration
	// IdleTimeout: a connection silent this long is dead [60s]. Posts
	// arrive many times a second on the real firehose.
	IdleTimeout time.Duration
	Log         *slog.Logger
	Wait        func(ctx context.Context, d time.Duration) error
}

// Client is a Jetstream subscriber.
type Client struct {
	cfg         Config
	keywords    []string
	langs       map[string]bool
	cursor      atomic.Int64
	seen        map[string]bool // events at the cursor's time_us already handled
	connections atomic.Int64
}

// New returns a client.
func New(cfg Config) (*Client, error) {
	if cfg.URL == "" {
		cfg.URL = DefaultURL
	}
	if _, err := url.Parse(cfg.URL); err != nil {
		return nil, fmt.Errorf("jetstream url: %w", err)
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Wait == nil {
		cfg.Wait = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	c := &Client{cfg: cfg, seen: map[string]bool{}}
	for _, k := range cfg.Keywords {
		if k = strings.ToLower(strings.TrimSpace(k)); k != "" {
			c.keywords = append(c.keywords, k)
		}
	}
	if len(cfg.Langs) > 0 {
		c.langs = map[string]bool{}
		for _, l := range cfg.Langs {
			if l = strings.ToLower(strings.TrimSpace(l)); l != "" {
				c.langs[l] = true
			}
		}
	}
	c.cursor.Store(cfg.Cursor)
	return c, nil
}

// Cursor is the time_us of the last event handled.
func (c *Client) Cursor() int64 { return c.cursor.Load() }

// Connections is how many connections were attempted.
func (c *Client) Connections() int64 { return c.connections.Load() }

// SubscribeURL is the URL of the next connection: posts only, from the cursor.
func (c *Client) SubscribeURL() string {
	u, _ := url.Parse(c.cfg.URL)
	q := u.Query()
	q.Set("wantedCollections", tweet.BlueskyPostCollection)
	q.Del("cursor")
	if cur := c.cursor.Load(); cur > 0 {
		// Inclusive of the last event handled: events sharing its time_us
		// are not lost, and the ones already handled are skipped by key.
		q.Set("cursor", strconv.FormatInt(cur, 10))
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Run reads until ctx ends, reconnecting with backoff.
func (c *Client) Run(ctx context.Context, sink Sink) error {
	if c.cfg.Profiles != nil {
		go c.cfg.Profiles.Run(ctx)
	}
	fails := 0
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			sink.Reconnected()
		}
		got, err := c.connect(ctx, sink)
		if ctx.Err() != nil {
			return nil
		}
		var d time.Duration // a working connection dropped: resume at once
		if got > 0 {
			fails = 0
		} else {
			fails++
			d = c.cfg.MinBackoff << min(fails-1, 16)
			if d > c.cfg.MaxBackoff || d <= 0 {
				d = c.cfg.MaxBackoff
			}
		}
		c.cfg.Log.Info("jetstream disconnected", "error", errString(err), "cursor", c.cursor.Load(), "next attempt in", d.String())
		if err := c.cfg.Wait(ctx, d); err != nil {
			return nil
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// connect reads one connection and returns how many messages it delivered.
func (c *Client) connect(ctx context.Context, sink Sink) (int, error) {
	c.connections.Add(1)
	dialCtx, cancelDial := context.WithTimeout(ctx, 30*time.Second)
	conn, _, err := websocket.Dial(dialCtx, c.SubscribeURL(), nil)
	cancelDial()
	if err != nil {
		return 0, err
	}
	defer conn.CloseNow()
	conn.SetReadLimit(-1) // oversized messages are skipped below, not fatal to the connection
	n := 0
	for {
		readCtx, cancel := context.WithTimeout(ctx, c.cfg.IdleTimeout)
		typ, r, err := conn.Reader(readCtx)
		if err != nil {
			cancel()
			return n, err
		}
		raw, err := io.ReadAll(io.LimitReader(r, tweet.MaxMessageBytes+1))
		if err == nil && len(raw) > tweet.MaxMessageBytes {
			_, err = io.Copy(io.Discard, r)
		}
		cancel()
		if err != nil {
			return n, err
		}
		n++
		if typ != websocket.MessageText {
			sink.Malformed(&tweet.MalformedError{Reason: tweet.ReasonBadValue, Err: errors.New("binary message (is compress=true set?)")})
			continue
		}
		if err := c.handle(ctx, raw, sink); err != nil {
			return n, err
		}
	}
}

// handle processes one message; an error means the sink refused (shutdown).
func (c *Client) handle(ctx context.Context, raw []byte, sink Sink) error {
	ev, err := tweet.ParseJetstream(raw)
	if err != nil {
		sink.Malformed(err)
		return nil
	}
	cur := c.cursor.Load()
	key := eventKey(&ev)
	if ev.TimeUS < cur || (ev.TimeUS == cur && c.seen[key]) {
		return nil // replayed by the inclusive cursor
	}
	if post, err := ev.Post(); err == nil {
		if c.keep(&post) {
			var prof tweet.Profile
			if c.cfg.Profiles != nil {
				prof, _ = c.cfg.Profiles.Lookup(ev.DID)
			}
			d := ev.Document(&post, prof)
			if c.keepDoc(&d) {
				if err := sink.Emit(ctx, d); err != nil {
					return err
				}
			}
		}
	} else if !errors.Is(err, tweet.ErrNotPost) {
		sink.Malformed(err)
	}
	if ev.TimeUS > cur {
		c.cursor.Store(ev.TimeUS)
		clear(c.seen)
	}
	c.seen[key] = true
	return nil
}

func eventKey(ev *tweet.JetstreamEvent) string {
	if ev.Commit != nil {
		return ev.DID + "|" + ev.Kind + "|" + ev.Commit.Operation + "|" + ev.Commit.Collection + "|" + ev.Commit.RKey + "|" + ev.Commit.Rev
	}
	return ev.DID + "|" + ev.Kind
}

func (c *Client) keep(p *tweet.BlueskyPost) bool {
	if c.langs == nil {
		return true
	}
	for _, l := range p.Langs {
		if c.langs[strings.ToLower(l)] {
			return true
		}
	}
	return false
}

func (c *Client) keepDoc(d *tweet.Document) bool {
	if len(c.keywords) == 0 {
		return true
	}
	text := strings.ToLower(d.Text)
	for _, k := range c.keywords {
		if strings.Contains(text, k) {
			return true
		}
		for _, h := range d.Entities.Hashtags {
			if strings.EqualFold(h.Text, strings.TrimPrefix(k, "#")) {
				return true
			}
		}
	}
	return false
}
