// Package replay is the producer's demo and test source: newline-delimited
// JSON from a file (canonical documents, raw X v2 messages or v1.1
// statuses), or the seeded synthetic generator, paced at a rate.
package replay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/streamdash/streamdash/internal/tweet"
)

// SyntheticEpoch stamps generated documents when timestamps are not
// rewritten: document i is at SyntheticEpoch + i/rate, so the whole output
// is a function of the seed, the rate and the count.
var SyntheticEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Sink receives documents; *postqueue.Sink is one.
type Sink interface {
	Emit(ctx context.Context, d tweet.Document) error
	Malformed(err error)
}

// Config configures a Source.
type Config struct {
	File   string       // NDJSON file; empty means the synthetic generator
	Format tweet.Format // of the file [auto]
	Seed   int64        // of the generator
	Rate   float64      // documents per second; <= 0 means as fast as the writer takes them
	Count  int          // documents to emit; 0 means forever (or once through the file)
	// RewriteTimestamps stamps each document with the time it is emitted,
	// so replayed data lands inside the dashboards' windows.
	RewriteTimestamps bool
	Loop              bool // start the file again at its end
	Now               func() time.Time
	Log               *slog.Logger
}

// Source emits replayed or generated documents.
type Source struct {
	cfg     Config
	emitted int
}

// New validates cfg.
func New(cfg Config) (*Source, error) {
	if cfg.Format == "" {
		cfg.Format = tweet.FormatAuto
	}
	if _, err := tweet.ParseFormat(string(cfg.Format)); err != nil {
		return nil, err
	}
	if cfg.Count < 0 {
		return nil, errors.New("replay: count must not be negative")
	}
	if cfg.File != "" {
		f, err := os.Open(cfg.File)
		if err != nil {
			return nil, fmt.Errorf("replay file: %w", err)
		}
		f.Close()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Source{cfg: cfg}, nil
}

// Emitted is how many documents Run has handed to the sink.
func (s *Source) Emitted() int { return s.emitted }

// Run emits until Count is reached, the file ends (without Loop), or ctx ends.
func (s *Source) Run(ctx context.Context, sink Sink) error {
	p := pacer{rate: s.cfg.Rate, start: time.Now()}
	if s.cfg.File == "" {
		return s.runSynthetic(ctx, sink, &p)
	}
	return s.runFile(ctx, sink, &p)
}

func (s *Source) done() bool { return s.cfg.Count > 0 && s.emitted >= s.cfg.Count }

func (s *Source) emit(ctx context.Context, sink Sink, p *pacer, d tweet.Document) error {
	if err := p.wait(ctx, s.emitted); err != nil {
		return err
	}
	if s.cfg.RewriteTimestamps {
		d.SetTime(s.cfg.Now())
	}
	if err := sink.Emit(ctx, d); err != nil {
		return err
	}
	s.emitted++
	return nil
}

func (s *Source) runSynthetic(ctx context.Context, sink Sink, p *pacer) error {
	g := tweet.NewGenerator(s.cfg.Seed)
	step := time.Millisecond
	if s.cfg.Rate > 0 {
		step = time.Duration(float64(time.Second) / s.cfg.Rate)
	}
	for !s.done() {
		ts := SyntheticEpoch.Add(time.Duration(s.emitted) * step)
		if err := s.emit(ctx, sink, p, g.Next(ts)); err != nil {
			return ignoreCancel(err)
		}
	}
	return nil
}

func (s *Source) runFile(ctx context.Context, sink Sink, p *pacer) error {
	for pass := 0; ; pass++ {
		before := s.emitted
		if err := s.readFile(ctx, sink, p); err != nil {
			return ignoreCancel(err)
		}
		if s.done() || !s.cfg.Loop {
			return nil
		}
		if s.emitted == before {
			return fmt.Errorf("replay file %s has no valid document to loop over", s.cfg.File)
		}
	}
}

func (s *Source) readFile(ctx context.Context, sink Sink, p *pacer) error {
	f, err := os.Open(s.cfg.File)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	for lineNo := 1; !s.done(); lineNo++ {
		line, tooLarge, err := readLine(br)
		if err == io.EOF && len(line) == 0 && !tooLarge {
			return nil
		}
		if err != nil && err != io.EOF {
			return err
		}
		if tooLarge {
			sink.Malformed(&tweet.MalformedError{Reason: tweet.ReasonTooLarge, Err: fmt.Errorf("line %d exceeds %d bytes", lineNo, tweet.MaxMessageBytes)})
			continue
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		d, cerr := tweet.Convert(s.cfg.Format, line)
		if cerr != nil {
			if !errors.Is(cerr, tweet.ErrNotPost) {
				sink.Malformed(fmt.Errorf("line %d: %w", lineNo, cerr))
			}
			continue
		}
		if err := s.emit(ctx, sink, p, d); err != nil {
			return err
		}
	}
	return nil
}

// readLine reads one line of at most tweet.MaxMessageBytes; longer lines
// are consumed and reported as tooLarge.
func readLine(br *bufio.Reader) (line []byte, tooLarge bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLarge {
			if len(line)+len(chunk) > tweet.MaxMessageBytes+1 { // +1: the newline
				tooLarge, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return line, tooLarge, err
	}
}

func ignoreCancel(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// pacer spaces documents at rate per second from start, catching up after
// a stall rather than drifting.
type pacer struct {
	rate  float64
	start time.Time
}

func (p *pacer) wait(ctx context.Context, i int) error {
	if p.rate <= 0 {
		return ctx.Err()
	}
	at := p.start.Add(time.Duration(float64(i) / p.rate * float64(time.Second)))
	d := time.Until(at)
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
