// Package postqueue is the hand-off between a source reader and the Kinesis
// writer: a bounded queue of encoded documents, the Sink that sources emit
// to, and the producer's metrics. The queue never grows: a source that must
// not stall (X disconnects slow readers) drops and counts when it is full;
// a source that can wait (replay) blocks.
package postqueue

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Post is one encoded document and its Kinesis partition key.
type Post struct {
	Key  string
	Data []byte
}

// Queue is a bounded FIFO of posts.
type Queue struct {
	ch        chan Post
	closeOnce sync.Once
	mu        sync.RWMutex // guards sends against close
	closed    bool
}

// NewQueue returns a queue holding at most capacity posts; its depth is
// exported as streamdash_producer_queue_depth when reg is not nil.
func NewQueue(capacity int, reg prometheus.Registerer) *Queue {
	q := &Queue{ch: make(chan Post, capacity)}
	if reg != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "streamdash_producer_queue_depth", Help: "Posts waiting for the Kinesis writer.",
		}, func() float64 { return float64(len(q.ch)) }))
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "streamdash_producer_queue_capacity", Help: "Capacity of the queue to the Kinesis writer.",
		}, func() float64 { return float64(cap(q.ch)) }))
	}
	return q
}

// Offer enqueues p without waiting; false when the queue is full or closed.
func (q *Queue) Offer(p Post) bool {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return false
	}
	select {
	case q.ch <- p:
		return true
	default:
		return false
	}
}

// Put enqueues p, waiting for room until ctx ends.
func (q *Queue) Put(ctx context.Context, p Post) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return context.Canceled
	}
	select {
	case q.ch <- p:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close ends the queue: the writer drains what is left and stops. Call it
// only after the sources have stopped; later puts are refused.
func (q *Queue) Close() {
	q.closeOnce.Do(func() {
		q.mu.Lock()
		q.closed = true
		close(q.ch)
		q.mu.Unlock()
	})
}

// C is the receiving end for the writer.
func (q *Queue) C() <-chan Post { return q.ch }

// Len is the current depth.
func (q *Queue) Len() int { return len(q.ch) }
