package xstream

import "time"

// Backoff holds X's reconnection guidance for the filtered stream. The
// fields are there so tests can shrink the timings; production uses
// DefaultBackoff.
type Backoff struct {
	// NetworkStep is added per consecutive network failure (TCP/TLS errors,
	// a connection that dies before any byte), up to NetworkMax.
	NetworkStep, NetworkMax time.Duration
	// HTTPStart doubles per consecutive HTTP error, up to HTTPMax.
	HTTPStart, HTTPMax time.Duration
	// RateLimitStart doubles per consecutive 429, up to RateLimitMax; the
	// x-rate-limit-reset header extends the wait when it is later.
	RateLimitStart, RateLimitMax time.Duration
	// IdleTimeout: this long without a byte (keep-alives arrive every 20 s)
	// means the connection is dead.
	IdleTimeout time.Duration
	// MaxConnects attempts are allowed per ConnectWindow; X refuses more
	// (50 per 15 minutes). It bounds the immediate reconnects that follow
	// dropped connections, which no other rule slows down.
	MaxConnects   int
	ConnectWindow time.Duration
}

// DefaultBackoff is X's published guidance: 20 s idle timeout; network
// errors +250 ms per attempt up to 16 s; HTTP errors from 5 s doubling up
// to 320 s; 429 from 1 minute doubling. X gives no ceiling for 429; the
// rate-limit window is 15 minutes, so waiting longer never helps.
func DefaultBackoff() Backoff {
	return Backoff{
		NetworkStep: 250 * time.Millisecond, NetworkMax: 16 * time.Second,
		HTTPStart: 5 * time.Second, HTTPMax: 320 * time.Second,
		RateLimitStart: time.Minute, RateLimitMax: 15 * time.Minute,
		IdleTimeout: 20 * time.Second,
		MaxConnects: 50, ConnectWindow: 15 * time.Minute,
	}
}

// Network is the wait before retrying after the n-th consecutive network failure (n >= 1).
func (b Backoff) Network(n int) time.Duration {
	return min(time.Duration(n)*b.NetworkStep, b.NetworkMax)
}

// HTTP is the wait after the n-th consecutive HTTP error (n >= 1).
func (b Backoff) HTTP(n int) time.Duration { return doubling(b.HTTPStart, b.HTTPMax, n) }

// RateLimited is the wait after the n-th consecutive 429 (n >= 1).
func (b Backoff) RateLimited(n int) time.Duration {
	return doubling(b.RateLimitStart, b.RateLimitMax, n)
}

func doubling(start, max time.Duration, n int) time.Duration {
	d := start
	for i := 1; i < n; i++ {
		d *= 2
		if d >= max {
			return max
		}
	}
	return min(d, max)
}
