package steps

import (
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
