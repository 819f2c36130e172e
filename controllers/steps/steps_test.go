package steps

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestCombine(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		in   []Outcome
		// want is the combined intent and requeue.
		wantIntent Intent
		wantAfter  time.Duration
	}{
		{name: "all done", in: []Outcome{Done(), Done()}, wantIntent: IntentDone},
		{name: "soonest wait wins", in: []Outcome{Wait(5 * time.Second), Done(), Wait(2 * time.Second)},
			wantIntent: IntentWait, wantAfter: 2 * time.Second},
		{name: "retry beats wait", in: []Outcome{Wait(time.Second), Retry(boom)}, wantIntent: IntentRetry},
		{name: "stall beats retry", in: []Outcome{Retry(boom), Stalled("MissingSecret", "m", 0), Wait(time.Second)},
			wantIntent: IntentStalled},
		{name: "stall recheck keeps the soonest", in: []Outcome{Stalled("A", "a", time.Hour), Stalled("B", "b", time.Minute)},
			wantIntent: IntentStalled, wantAfter: time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Done()
			for _, o := range tc.in {
				got = Combine(got, o)
			}
			if got.Intent != tc.wantIntent || got.After != tc.wantAfter {
				t.Errorf("combine = intent %d after %s, want intent %d after %s", got.Intent, got.After, tc.wantIntent, tc.wantAfter)
			}
		})
	}
}

func TestJitterBounds(t *testing.T) {
	for i := 0; i < 1000; i++ {
		if j := Jitter(10 * time.Second); j < 10*time.Second || j > 12*time.Second {
			t.Fatalf("Jitter(10s) = %s, want within [10s, 12s]", j)
		}
	}
	if Jitter(0) != 0 {
		t.Error("Jitter(0) is not 0")
	}
}

// TestResultKeepsASchedule: a user's schedule (DoneAt) is requeued exactly,
// however it combines; anything else is jittered, and the resync bounds both.
func TestResultKeepsASchedule(t *testing.T) {
	const resync = time.Minute
	tests := []struct {
		name string
		in   []Outcome
		// wantExact > 0: RequeueAfter must be exactly this; else within
		// [wantMin, wantMin*1.2].
		wantExact, wantMin time.Duration
	}{
		{name: "a schedule alone", in: []Outcome{DoneAt(10 * time.Second)}, wantExact: 10 * time.Second},
		{name: "a schedule sooner than a look", in: []Outcome{DoneAfter(20 * time.Second), DoneAt(10 * time.Second), Done()}, wantExact: 10 * time.Second},
		{name: "a look sooner than a schedule", in: []Outcome{DoneAt(10 * time.Second), DoneAfter(5 * time.Second)}, wantMin: 5 * time.Second},
		{name: "a schedule beyond the resync", in: []Outcome{DoneAt(2 * resync)}, wantMin: resync},
		{name: "nothing scheduled", in: []Outcome{Done()}, wantMin: resync},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := Done()
			for _, x := range tc.in {
				o = Combine(o, x)
			}
			for range 50 {
				res, err := Result(context.Background(), o, resync)
				if err != nil {
					t.Fatal(err)
				}
				got := res.RequeueAfter
				if tc.wantExact > 0 && got != tc.wantExact {
					t.Fatalf("RequeueAfter = %s, want exactly %s", got, tc.wantExact)
				}
				if tc.wantExact == 0 && (got < tc.wantMin || got > tc.wantMin+tc.wantMin/5) {
					t.Fatalf("RequeueAfter = %s, want within [%s, +20%%]", got, tc.wantMin)
				}
			}
		})
	}
}
