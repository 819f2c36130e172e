package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/streamdash/streamdash/internal/analytics/store"
)

// TestWriteAfterCancelledWrite: a write whose context ends part-way (a
// reader stopped mid-batch, to restart with new credentials) commits nothing,
// and the next write on the same collection works: the connection the
// cancelled one may have broken is not used again.
func TestWriteAfterCancelledWrite(t *testing.T) {
	s := openStore(t, "")
	c, err := s.Collection(context.Background(), "c_cancel")
	if err != nil {
		t.Fatal(err)
	}
	batch := func(prefix string, n int) store.Batch {
		var b store.Batch
		for i := 0; i < n; i++ {
			b.Records = append(b.Records, store.Record{Data: fmt.Appendf(nil, `{"_id":"%s-%d","n":%d}`, prefix, i, i), RID: fmt.Sprintf("%s-%d", prefix, i), Arrival: time.Now()})
		}
		return b
	}
	// Time one whole write, then cancel writes at tenths of that time, so
	// that some end in each phase (staging, schema, the transaction).
	start := time.Now()
	res, err := c.Write(context.Background(), batch("timed", 20000))
	if err != nil {
		t.Fatal(err)
	}
	full := time.Since(start)
	cancelled, committed := 0, int64(res.Inserted)
	for i := 1; i < 20; i++ {
		d := full * time.Duration(i) / 20
		ctx, cancel := context.WithTimeout(context.Background(), d)
		res, err := c.Write(ctx, batch(fmt.Sprintf("big%d", i), 20000))
		cancel()
		if err != nil {
			cancelled++
		} else {
			committed += int64(res.Inserted)
		}
		res, err = c.Write(context.Background(), batch(fmt.Sprintf("after%d", i), 1))
		if err != nil {
			t.Fatalf("write after a write cancelled at %s of %s: %v", d, full, err)
		}
		committed += int64(res.Inserted)
	}
	st, err := c.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.DocCount != committed || cancelled == 0 {
		t.Errorf("%d documents stored, %d committed by successful writes; %d writes cancelled (want some)", st.DocCount, committed, cancelled)
	}
	t.Logf("%d of 19 large writes cancelled part-way (a whole one takes %s); every following write succeeded", cancelled, full.Round(time.Millisecond))
}
