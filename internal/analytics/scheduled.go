package analytics

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rockset/rockset-go-client/openapi"

	"github.com/streamdash/streamdash/internal/analytics/api"
	"github.com/streamdash/streamdash/internal/analytics/cron"
	"github.com/streamdash/streamdash/internal/analytics/meta"
)

// Scheduled query lambdas, as Rockset's /ws/{ws}/scheduled_lambdas had
// them: a Quartz cron string runs a lambda version (or the version a tag
// names at the time) with an API key, total_times_to_execute times or
// forever. The key is stored as its SHA-256 only and looked up at each run,
// so its role applies and a deleted or suspended key stops the schedule.
// A run that fails for good (ERROR: the key, the lambda, the SQL) suspends
// the schedule until an update sets resume_permanent_error; one that may
// pass next time (WARNING: a timeout, a full server) keeps it running.
// Rockset's query_execution_status has only those two states: after a
// success it is absent, and last_completion_date and last_query_id say when
// and which query. A run missed while the server was down runs once when it
// is back (Quartz's "fire once now"), then the schedule continues from then.

var _ api.ScheduleService = (*Server)(nil)

const rrnPrefix = "rrn:sl:streamdash:"

func errWebhooks() error {
	return api.Errorf(api.NotImplemented, "webhooks after a scheduled lambda's run are not supported")
}

// keyCaller is who key is: a key-file key is the administrator; any other
// must be an active key created through the API.
func (s *Server) keyCaller(key string) (api.Caller, bool) {
	if s.keys.Accepts(key) {
		return api.KeyFileCaller, true
	}
	return s.Authenticate(key)
}

// scheduleCaller finds the key a schedule runs with by its hash.
func (s *Server) scheduleCaller(hash string) (api.Caller, error) {
	if s.keys.Any(func(k string) bool { return subtle.ConstantTimeCompare([]byte(hashKey(k)), []byte(hash)) == 1 }) {
		return api.KeyFileCaller, nil
	}
	var c api.Caller
	var err error = api.Errorf(api.AuthException, "the schedule's API key no longer exists; update the schedule with another apikey and resume_permanent_error")
	s.meta.View(func(st *meta.State) {
		for _, k := range st.APIKeys {
			if subtle.ConstantTimeCompare([]byte(k.Hash), []byte(hash)) != 1 {
				continue
			}
			if k.State != "ACTIVE" {
				err = api.Errorf(api.AuthException, "the schedule's API key %q is %s", k.Name, strings.ToLower(k.State))
				return
			}
			c, err = callerOf(k), nil
		}
	})
	return c, err
}

// checkRunnable refuses a schedule that could never run: a key that is not
// one, a role without EXECUTE_QUERY_LAMBDA_WS, a lambda, version or tag
// that does not exist.
func (s *Server) checkRunnable(ws, key, lambda, version, tag string) error {
	c, ok := s.keyCaller(key)
	if !ok {
		return api.Errorf(api.InvalidInput, "apikey is not an active API key of this server")
	}
	if !s.allowed(c.Role, "EXECUTE_QUERY_LAMBDA_WS", ws, "") {
		return api.Errorf(api.InvalidInput, "the apikey's role %q does not allow EXECUTE_QUERY_LAMBDA_WS on %s, so the schedule could never run", c.Role, ws)
	}
	if lambda == "" {
		return nil
	}
	l, err := s.findLambda(ws, lambda)
	if err != nil {
		return err
	}
	if version != "" {
		_, err = findVersion(&l, version)
	} else {
		_, err = tagVersion(&l, tag)
	}
	return err
}

// CreateScheduledLambda schedules a lambda version or tag.
func (s *Server) CreateScheduledLambda(ctx context.Context, ws string, req openapi.CreateScheduledLambdaRequest) (openapi.ScheduledLambda, error) {
	if req.WebhookUrl != nil || req.WebhookPayload != nil || req.WebhookAuthHeader != nil {
		return openapi.ScheduledLambda{}, errWebhooks()
	}
	expr, err := cron.Parse(req.CronString)
	if err != nil {
		return openapi.ScheduledLambda{}, api.Errorf(api.InvalidInput, "%v", err)
	}
	version, tag := req.GetVersion(), req.GetTag()
	if (version == "") == (tag == "") {
		return openapi.ScheduledLambda{}, api.Errorf(api.InvalidInput, "give one of version or tag, not both or neither")
	}
	if req.QlName == "" {
		return openapi.ScheduledLambda{}, api.Errorf(api.InvalidInput, "ql_name is required")
	}
	total := req.GetTotalTimesToExecute()
	if total < 0 {
		return openapi.ScheduledLambda{}, api.Errorf(api.InvalidInput, "total_times_to_execute must be 0 or more (0 or absent: forever)")
	}
	if err := s.checkWorkspace(ws); err != nil {
		return openapi.ScheduledLambda{}, err
	}
	if err := s.checkRunnable(ws, req.Apikey, req.QlName, version, tag); err != nil {
		return openapi.ScheduledLambda{}, err
	}
	now := s.clock.Now()
	next, ok := expr.Next(now)
	if !ok {
		return openapi.ScheduledLambda{}, api.Errorf(api.InvalidInput, "cron string %q never fires after %s", req.CronString, now.UTC().Format(time.RFC3339))
	}
	sl := &meta.ScheduledLambda{
		RRN: rrnPrefix + randomID(), Workspace: ws, Lambda: req.QlName, Version: version, Tag: tag,
		Cron: expr.String(), KeyHash: hashKey(req.Apikey), TotalTimes: total,
		CreatedAt: now.UTC().Format(time.RFC3339Nano), CreatedBy: callerEmail(ctx),
		NextRunAt: next.Format(time.RFC3339),
	}
	err = s.meta.Update(func(st *meta.State) error {
		if _, ok := st.Workspaces[ws]; !ok {
			return api.Errorf(api.NotFound, "workspace %q not found", ws)
		}
		st.ScheduledLambdas[sl.RRN] = sl
		return nil
	})
	if err != nil {
		return openapi.ScheduledLambda{}, err
	}
	s.wakeSchedules()
	return scheduleView(sl), nil
}

func (s *Server) checkWorkspace(ws string) error {
	var err error = api.Errorf(api.NotFound, "workspace %q not found", ws)
	s.meta.View(func(st *meta.State) {
		if _, ok := st.Workspaces[ws]; ok {
			err = nil
		}
	})
	return err
}

func (s *Server) findSchedule(ws, rrn string) (meta.ScheduledLambda, error) {
	var out meta.ScheduledLambda
	var err error = api.Errorf(api.NotFound, "scheduled lambda %q not found in workspace %q", rrn, ws)
	s.meta.View(func(st *meta.State) {
		if sl, ok := st.ScheduledLambdas[rrn]; ok && sl.Workspace == ws {
			out, err = *sl, nil
		}
	})
	return out, err
}

// GetScheduledLambda returns a schedule with its last run.
func (s *Server) GetScheduledLambda(ctx context.Context, ws, rrn string) (openapi.ScheduledLambda, error) {
	sl, err := s.findSchedule(ws, rrn)
	if err != nil {
		return openapi.ScheduledLambda{}, err
	}
	return scheduleView(&sl), nil
}

// ListScheduledLambdas lists a workspace's schedules.
func (s *Server) ListScheduledLambdas(ctx context.Context, ws string) ([]openapi.ScheduledLambda, error) {
	out := []openapi.ScheduledLambda{}
	var err error = api.Errorf(api.NotFound, "workspace %q not found", ws)
	s.meta.View(func(st *meta.State) {
		if _, ok := st.Workspaces[ws]; !ok {
			return
		}
		err = nil
		for _, sl := range st.ScheduledLambdas {
			if sl.Workspace == ws {
				out = append(out, scheduleView(sl))
			}
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].GetRrn() < out[j].GetRrn() })
	return out, err
}

// UpdateScheduledLambda changes the key or the number of runs, or resumes a
// schedule an ERROR suspended; the cron string and the lambda stay.
func (s *Server) UpdateScheduledLambda(ctx context.Context, ws, rrn string, req openapi.UpdateScheduledLambdaRequest) (openapi.ScheduledLambda, error) {
	if req.WebhookUrl != nil || req.WebhookPayload != nil || req.WebhookAuthHeader != nil {
		return openapi.ScheduledLambda{}, errWebhooks()
	}
	if req.TotalTimesToExecute != nil && *req.TotalTimesToExecute < 0 {
		return openapi.ScheduledLambda{}, api.Errorf(api.InvalidInput, "total_times_to_execute must be 0 or more (0: forever)")
	}
	if req.Apikey != nil {
		if err := s.checkRunnable(ws, *req.Apikey, "", "", ""); err != nil {
			return openapi.ScheduledLambda{}, err
		}
	}
	now := s.clock.Now()
	var out openapi.ScheduledLambda
	err := s.meta.Update(func(st *meta.State) error {
		sl, ok := st.ScheduledLambdas[rrn]
		if !ok || sl.Workspace != ws {
			return api.Errorf(api.NotFound, "scheduled lambda %q not found in workspace %q", rrn, ws)
		}
		if req.Apikey != nil {
			sl.KeyHash = hashKey(*req.Apikey)
		}
		if req.TotalTimesToExecute != nil {
			sl.TotalTimes = *req.TotalTimesToExecute
		}
		if req.GetResumePermanentError() {
			sl.Suspended = false
		}
		reschedule(sl, now)
		out = scheduleView(sl)
		return nil
	})
	if err == nil {
		s.wakeSchedules()
	}
	return out, err
}

// DeleteScheduledLambda deletes a schedule; a run in progress finishes
// without recording.
func (s *Server) DeleteScheduledLambda(ctx context.Context, ws, rrn string) (openapi.ScheduledLambda, error) {
	var out openapi.ScheduledLambda
	err := s.meta.Update(func(st *meta.State) error {
		sl, ok := st.ScheduledLambdas[rrn]
		if !ok || sl.Workspace != ws {
			return api.Errorf(api.NotFound, "scheduled lambda %q not found in workspace %q", rrn, ws)
		}
		out = scheduleView(sl)
		delete(st.ScheduledLambdas, rrn)
		return nil
	})
	if err == nil {
		s.wakeSchedules()
	}
	return out, err
}

func scheduleView(sl *meta.ScheduledLambda) openapi.ScheduledLambda {
	out := openapi.ScheduledLambda{
		Rrn: ptr(sl.RRN), Workspace: ptr(sl.Workspace), QlName: ptr(sl.Lambda), CronString: ptr(sl.Cron),
		ExecutionCount: ptr(sl.Executions),
	}
	if sl.Version != "" {
		out.Version = ptr(sl.Version)
	}
	if sl.Tag != "" {
		out.Tag = ptr(sl.Tag)
	}
	if sl.TotalTimes > 0 {
		out.TotalTimesToExecute = ptr(sl.TotalTimes)
	}
	if sl.NextRunAt != "" {
		out.NextExecutionDate = ptr(sl.NextRunAt)
	}
	if sl.LastCompletion != "" {
		out.LastCompletionDate = ptr(sl.LastCompletion)
	}
	if sl.LastQueryID != "" {
		out.LastQueryId = ptr(sl.LastQueryID)
	}
	if sl.LastState != "" {
		out.QueryExecutionStatus = &openapi.ExecutionStatus{State: ptr(sl.LastState), Message: ptr(sl.LastError)}
	}
	return out
}

// reschedule decides a schedule's next run at now: none when it is
// suspended or has run its number of times; else the one it has, or the
// cron string's next fire time after now when it has none.
func reschedule(sl *meta.ScheduledLambda, now time.Time) {
	if sl.Suspended || sl.TotalTimes > 0 && sl.Executions >= sl.TotalTimes {
		sl.NextRunAt = ""
		return
	}
	if sl.NextRunAt != "" {
		return
	}
	expr, err := cron.Parse(sl.Cron)
	if err != nil {
		return // checked when it was created; a stored one does not change
	}
	if next, ok := expr.Next(now); ok {
		sl.NextRunAt = next.Format(time.RFC3339)
	}
}

// Run outcomes, as Rockset's ExecutionStatus names them.
const (
	runError   = "ERROR"   // will not pass by itself: the schedule is suspended
	runWarning = "WARNING" // may pass next time: the schedule goes on
)

// classify says what a failed run means for the schedule.
func classify(err error) string {
	var ae *api.Error
	if errors.As(err, &ae) {
		switch ae.Type {
		case api.QueryTimeout, api.ResourceExceeded, api.InternalError, api.NotReady:
			return runWarning
		}
		return runError
	}
	return runWarning
}

// recordRun writes a run's outcome into a schedule and decides its next run.
func recordRun(sl *meta.ScheduledLambda, fired, finished time.Time, queryID string, err error) {
	sl.Executions++
	sl.LastRunAt = fired.UTC().Format(time.RFC3339)
	sl.NextRunAt = ""
	if err == nil {
		sl.LastState, sl.LastError = "", ""
		sl.LastCompletion, sl.LastQueryID = finished.UTC().Format(time.RFC3339), queryID
	} else {
		msg := err.Error()
		var ae *api.Error
		if errors.As(err, &ae) {
			msg = ae.Message
		}
		sl.LastState = classify(err)
		sl.LastError = fmt.Sprintf("run at %s: %s", sl.LastRunAt, msg)
		sl.Suspended = sl.LastState == runError
	}
	reschedule(sl, finished)
}

// wakeSchedules makes the runner look at the schedules again.
func (s *Server) wakeSchedules() {
	select {
	case s.scheduleWake <- struct{}{}:
	default:
	}
}

// runSchedules runs scheduled lambdas until ctx ends: every due one runs,
// then it waits for the soonest next run or a change.
func (s *Server) runSchedules(ctx context.Context) {
	for {
		next := s.RunDueSchedules(ctx)
		var fire <-chan time.Time
		var stop func() bool
		if !next.IsZero() {
			d := next.Sub(s.clock.Now())
			if d <= 0 {
				// Still due after a round (a schedule changed meanwhile):
				// look again, not in a loop.
				d = time.Second
			}
			t := s.clock.NewTimer(d)
			fire, stop = t.C(), t.Stop
		}
		select {
		case <-ctx.Done():
		case <-fire:
		case <-s.scheduleWake:
		}
		if stop != nil {
			stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// unrecordedRun is a run whose outcome could not be written to the metadata
// file (a full disk): the next run the file still holds, and the next run
// the outcome decided. The server keeps it in memory, so the schedule goes
// on from the outcome instead of running its lambda again every time the
// runner looks; after a restart the file's next run is run once more.
type unrecordedRun struct {
	filed, next string
}

// nextRun is when sl runs next: the file's time, unless a run for that time
// could not be recorded. Called with scheduleMu held.
func (s *Server) nextRun(sl *meta.ScheduledLambda) (time.Time, bool) {
	next := sl.NextRunAt
	if u, ok := s.unrecorded[sl.RRN]; ok && u.filed == sl.NextRunAt {
		next = u.next
	}
	at, err := time.Parse(time.RFC3339, next)
	return at, err == nil
}

// RunDueSchedules runs, each at once, the scheduled lambdas whose next run
// is due by the server's clock, records their outcomes, and returns the
// soonest next run of any schedule (zero when none will run).
func (s *Server) RunDueSchedules(ctx context.Context) time.Time {
	// One round at a time, so no schedule is due in two rounds at once.
	s.scheduleMu.Lock()
	defer s.scheduleMu.Unlock()
	now := s.clock.Now()
	var due []meta.ScheduledLambda
	s.meta.View(func(st *meta.State) {
		for rrn, u := range s.unrecorded {
			// Recorded since, changed or deleted: the file holds the truth again.
			if sl, ok := st.ScheduledLambdas[rrn]; !ok || sl.NextRunAt != u.filed {
				delete(s.unrecorded, rrn)
			}
		}
		for _, sl := range st.ScheduledLambdas {
			if at, ok := s.nextRun(sl); ok && !sl.Suspended && !at.After(now) {
				due = append(due, *sl)
			}
		}
	})
	unrecorded := make([]*unrecordedRun, len(due))
	var wg sync.WaitGroup
	for i := range due {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unrecorded[i] = s.runScheduled(ctx, &due[i], now)
		}()
	}
	wg.Wait()
	for i, u := range unrecorded {
		if u != nil {
			s.unrecorded[due[i].RRN] = *u
		}
	}
	var soonest time.Time
	s.meta.View(func(st *meta.State) {
		for _, sl := range st.ScheduledLambdas {
			if at, ok := s.nextRun(sl); ok && (soonest.IsZero() || at.Before(soonest)) {
				soonest = at
			}
		}
	})
	return soonest
}

// runScheduled runs one due schedule and records its outcome; it returns
// the run when the outcome could not be recorded.
func (s *Server) runScheduled(ctx context.Context, sl *meta.ScheduledLambda, fired time.Time) *unrecordedRun {
	caller, err := s.scheduleCaller(sl.KeyHash)
	if err == nil && !s.allowed(caller.Role, "EXECUTE_QUERY_LAMBDA_WS", sl.Workspace, "") {
		err = api.Errorf(api.Forbidden, "the schedule's API key's role %q does not allow EXECUTE_QUERY_LAMBDA_WS on %s", caller.Role, sl.Workspace)
	}
	var resp openapi.QueryResponse
	if err == nil {
		resp, err = s.ExecuteQueryLambda(api.WithCaller(ctx, caller), sl.Workspace, sl.Lambda, sl.Version, sl.Tag, openapi.ExecuteQueryLambdaRequest{})
	}
	if ctx.Err() != nil {
		return nil // stopped, not failed: it runs when the server is back
	}
	finished := s.clock.Now()
	uerr := s.meta.Update(func(st *meta.State) error {
		if cur, ok := st.ScheduledLambdas[sl.RRN]; ok {
			recordRun(cur, fired, finished, resp.GetQueryId(), err)
		}
		return nil
	})
	switch {
	case uerr != nil:
		decided := *sl
		recordRun(&decided, fired, finished, resp.GetQueryId(), err)
		s.log.Error("scheduled lambda: outcome not recorded; next run kept in memory", "rrn", sl.RRN, "next", decided.NextRunAt, "error", uerr)
		return &unrecordedRun{filed: sl.NextRunAt, next: decided.NextRunAt}
	case err != nil:
		s.log.Warn("scheduled lambda run failed", "rrn", sl.RRN, "lambda", sl.Workspace+"."+sl.Lambda, "error", err)
	default:
		s.log.Info("scheduled lambda ran", "rrn", sl.RRN, "lambda", sl.Workspace+"."+sl.Lambda, "query_id", resp.GetQueryId())
	}
	return nil
}
