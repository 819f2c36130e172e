package analytics

import (
	"errors"
	"testing"
	"time"

	"github.com/streamdash/streamdash/internal/analytics/api"
	"github.com/streamdash/streamdash/internal/analytics/meta"
)

// TestRecordRun: what a run's outcome does to a schedule: its counters, its
// status, whether it is suspended, and when it runs next.
func TestRecordRun(t *testing.T) {
	fired := time.Date(2026, 11, 30, 10, 1, 0, 0, time.UTC)
	finished := fired.Add(2 * time.Second)
	for _, tc := range []struct {
		name       string
		total      int64
		executions int64 // before the run
		err        error
		wantState  string // "" for a success
		wantNext   string // "" for none
		wantSusp   bool
	}{
		{"success, forever", 0, 0, nil, "", "2026-11-30T10:02:00Z", false},
		{"success, the last of 2", 2, 1, nil, "", "", false},
		{"success, 1 of 2", 2, 0, nil, "", "2026-11-30T10:02:00Z", false},
		{"key gone: ERROR, suspended", 0, 0, api.Errorf(api.AuthException, "gone"), runError, "", true},
		{"forbidden: ERROR", 0, 0, api.Errorf(api.Forbidden, "no"), runError, "", true},
		{"lambda gone: ERROR", 0, 0, api.Errorf(api.NotFound, "no lambda"), runError, "", true},
		{"bad SQL: ERROR", 0, 0, api.Errorf(api.QueryError, "syntax"), runError, "", true},
		{"timeout: WARNING, goes on", 0, 0, api.Errorf(api.QueryTimeout, "slow"), runWarning, "2026-11-30T10:02:00Z", false},
		{"server full: WARNING", 0, 0, api.Errorf(api.ResourceExceeded, "busy"), runWarning, "2026-11-30T10:02:00Z", false},
		{"not an API error: WARNING", 0, 0, errors.New("disk"), runWarning, "2026-11-30T10:02:00Z", false},
		{"a failure on the last run still ends it", 1, 0, api.Errorf(api.QueryTimeout, "slow"), runWarning, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sl := &meta.ScheduledLambda{Cron: "0 * * ? * *", TotalTimes: tc.total, Executions: tc.executions, NextRunAt: "2026-11-30T10:01:00Z"}
			recordRun(sl, fired, finished, "q-1", tc.err)
			if sl.Executions != tc.executions+1 || sl.LastRunAt != "2026-11-30T10:01:00Z" {
				t.Errorf("counters: %+v", sl)
			}
			if sl.LastState != tc.wantState || sl.NextRunAt != tc.wantNext || sl.Suspended != tc.wantSusp {
				t.Errorf("state %q next %q suspended %v, want %q %q %v", sl.LastState, sl.NextRunAt, sl.Suspended, tc.wantState, tc.wantNext, tc.wantSusp)
			}
			if tc.err == nil && (sl.LastCompletion != "2026-11-30T10:01:02Z" || sl.LastQueryID != "q-1" || sl.LastError != "") {
				t.Errorf("success fields: %+v", sl)
			}
			if tc.err != nil && (sl.LastError == "" || sl.LastCompletion != "") {
				t.Errorf("failure fields: %+v", sl)
			}
		})
	}
}
