package analytics_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	rs "github.com/rockset/rockset-go-client"
	"github.com/rockset/rockset-go-client/openapi"
	"github.com/rockset/rockset-go-client/option"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/streamdash/streamdash/internal/analytics"
)

// scheduleFixture is a server on a fake clock with a lambda and a key whose
// role may only execute lambdas (and list) in commons.
type scheduleFixture struct {
	ts      *testServer
	clock   *testingclock.FakeClock
	key     string // the runner key, whole
	keyName string
	version string
}

var scheduleStart = time.Date(2026, 11, 30, 10, 0, 30, 0, time.UTC)

// newScheduleFixture starts the server with cfg and the fixture's clock.
func newScheduleFixture(t *testing.T, cfg analytics.Config) *scheduleFixture {
	t.Helper()
	f := &scheduleFixture{clock: testingclock.NewFakeClock(scheduleStart), keyName: "runner"}
	cfg.Clock = f.clock
	f.ts = startServer(t, cfg)
	ctx := context.Background()
	rc := f.ts.rc
	if _, err := rc.CreateRole(ctx, "lambda-runner",
		option.WithWorkspacePrivilege(option.ExecuteQueryLambdaWs, "commons"),
		option.WithWorkspacePrivilege(option.ListResourcesWs, "commons")); err != nil {
		t.Fatal(err)
	}
	k, err := rc.CreateAPIKey(ctx, f.keyName, option.WithRole("lambda-runner"))
	if err != nil {
		t.Fatal(err)
	}
	f.key = k.Key
	ql, err := rc.CreateQueryLambda(ctx, "commons", "tick", "SELECT 1 AS one")
	if err != nil {
		t.Fatal(err)
	}
	f.version = ql.GetVersion()
	return f
}

// at moves the fake clock and runs what is due, as the runner does when
// its timer fires.
func (f *scheduleFixture) at(t *testing.T, hms string) {
	t.Helper()
	d, err := time.Parse("15:04:05", hms)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.SetTime(time.Date(2026, 11, 30, d.Hour(), d.Minute(), d.Second(), 0, time.UTC))
	f.ts.srv.RunDueSchedules(context.Background())
}

func getSchedule(t *testing.T, rc *rs.RockClient, rrn string) openapi.ScheduledLambda {
	t.Helper()
	sl, err := rc.GetScheduledLambda(context.Background(), "commons", rrn)
	if err != nil {
		t.Fatal(err)
	}
	return sl
}

// TestScheduledLambdaRuns: a schedule runs its lambda at each fire time of
// its cron string with its key, total_times_to_execute times, and shows its
// last run; the runner's own timer fires it too.
func TestScheduledLambdaRuns(t *testing.T) {
	f := newScheduleFixture(t, analytics.Config{})
	ctx := context.Background()
	rc := f.ts.rc
	sl, err := rc.CreateScheduledLambda(ctx, "commons", f.key, "0 * * ? * *", "tick",
		option.WithScheduledLambdaVersion(f.version), option.WithScheduledLambdaTotalTimesToExecute(3))
	if err != nil {
		t.Fatal(err)
	}
	rrn := sl.GetRrn()
	if sl.GetNextExecutionDate() != "2026-11-30T10:01:00Z" || sl.GetExecutionCount() != 0 || sl.GetTotalTimesToExecute() != 3 {
		t.Fatalf("created: %+v", sl)
	}

	f.at(t, "10:00:59") // not yet
	if got := getSchedule(t, rc, rrn); got.GetExecutionCount() != 0 {
		t.Fatalf("ran before its time: %+v", got)
	}
	f.at(t, "10:01:00")
	got := getSchedule(t, rc, rrn)
	if got.GetExecutionCount() != 1 || got.GetLastCompletionDate() != "2026-11-30T10:01:00Z" ||
		got.GetLastQueryId() == "" || got.QueryExecutionStatus != nil || got.GetNextExecutionDate() != "2026-11-30T10:02:00Z" {
		t.Fatalf("after the first run: %+v", got)
	}

	// The runner's own timer: moving the clock is enough.
	f.clock.SetTime(time.Date(2026, 11, 30, 10, 2, 0, 0, time.UTC))
	waitFor(t, 10*time.Second, "the runner's timer to run the schedule", func() (bool, error) {
		sl, err := rc.GetScheduledLambda(ctx, "commons", rrn)
		return sl.GetExecutionCount() == 2, err
	})

	// Missed fire times run once, then the schedule continues from now.
	f.at(t, "10:07:30")
	got = getSchedule(t, rc, rrn)
	if got.GetExecutionCount() != 3 || got.NextExecutionDate != nil {
		t.Fatalf("after its 3 runs: %+v", got)
	}
	f.at(t, "10:08:00")
	if got := getSchedule(t, rc, rrn); got.GetExecutionCount() != 3 {
		t.Fatalf("ran past total_times_to_execute: %+v", got)
	}

	// More runs: it goes on from now.
	got, err = rc.UpdateScheduledLambda(ctx, "commons", rrn, option.WithScheduledLambdaTotalTimesToExecute(4))
	if err != nil || got.GetNextExecutionDate() != "2026-11-30T10:09:00Z" {
		t.Fatalf("update: %+v %v", got, err)
	}
	f.at(t, "10:09:00")
	if got := getSchedule(t, rc, rrn); got.GetExecutionCount() != 4 {
		t.Fatalf("after raising total_times_to_execute: %+v", got)
	}

	if err := rc.DeleteScheduledLambda(ctx, "commons", rrn); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.GetScheduledLambda(ctx, "commons", rrn); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("deleted schedule: %v", err)
	}
}

// TestScheduledLambdaKeyStops: the schedule runs as its key; a suspended or
// deleted key makes the run fail with a visible ERROR and suspends the
// schedule, until an update gives another key and resume_permanent_error.
func TestScheduledLambdaKeyStops(t *testing.T) {
	f := newScheduleFixture(t, analytics.Config{})
	ctx := context.Background()
	rc := f.ts.rc
	sl, err := rc.CreateScheduledLambda(ctx, "commons", f.key, "0 * * ? * *", "tick", option.WithScheduledLambdaTag("latest"))
	if err != nil {
		t.Fatal(err)
	}
	rrn := sl.GetRrn()
	if _, err := rc.UpdateAPIKey(ctx, f.keyName, option.State(option.KeySuspended)); err != nil {
		t.Fatal(err)
	}
	f.at(t, "10:01:00")
	got := getSchedule(t, rc, rrn)
	st := got.QueryExecutionStatus
	if st.GetState() != "ERROR" || !strings.Contains(st.GetMessage(), "suspended") || got.NextExecutionDate != nil || got.LastCompletionDate != nil {
		t.Fatalf("with a suspended key: %+v", got)
	}
	f.at(t, "10:02:00")
	if got := getSchedule(t, rc, rrn); got.GetExecutionCount() != 1 {
		t.Fatalf("a suspended schedule ran: %+v", got)
	}

	// Reactivating the key is not enough: the schedule stays suspended
	// until told to resume.
	if _, err := rc.UpdateAPIKey(ctx, f.keyName, option.State(option.KeyActive)); err != nil {
		t.Fatal(err)
	}
	got, err = rc.UpdateScheduledLambda(ctx, "commons", rrn, option.WithScheduledLambdaResumePermanentError(true))
	if err != nil || got.GetNextExecutionDate() != "2026-11-30T10:03:00Z" {
		t.Fatalf("resume: %+v %v", got, err)
	}
	f.at(t, "10:03:00")
	if got := getSchedule(t, rc, rrn); got.GetExecutionCount() != 2 || got.QueryExecutionStatus != nil || got.GetLastCompletionDate() != "2026-11-30T10:03:00Z" {
		t.Fatalf("after resuming: %+v", got)
	}

	if err := rc.DeleteAPIKey(ctx, f.keyName); err != nil {
		t.Fatal(err)
	}
	f.at(t, "10:04:00")
	got = getSchedule(t, rc, rrn)
	if st := got.QueryExecutionStatus; st.GetState() != "ERROR" || !strings.Contains(st.GetMessage(), "no longer exists") ||
		!strings.Contains(st.GetMessage(), "run at 2026-11-30T10:04:00Z") {
		t.Fatalf("with a deleted key: %+v", got)
	}

	// The lambda gone: an ERROR that names it.
	if _, err := rc.UpdateScheduledLambda(ctx, "commons", rrn, option.WithScheduledLambdaApikey(testKey), option.WithScheduledLambdaResumePermanentError(true)); err != nil {
		t.Fatal(err)
	}
	if err := rc.DeleteQueryLambda(ctx, "commons", "tick"); err != nil {
		t.Fatal(err)
	}
	f.at(t, "10:05:00")
	if st := getSchedule(t, rc, rrn).QueryExecutionStatus; st.GetState() != "ERROR" || !strings.Contains(st.GetMessage(), `"tick" not found`) {
		t.Fatalf("with the lambda deleted: %+v", st)
	}
}

// TestScheduledLambdaSurvivesRestart: schedules and their last runs are in
// the metadata file; a fire time missed while the server was down runs once
// when it is back.
func TestScheduledLambdaSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	f := newScheduleFixture(t, analytics.Config{DataDir: dir})
	ctx := context.Background()
	sl, err := f.ts.rc.CreateScheduledLambda(ctx, "commons", f.key, "0 * * ? * *", "tick", option.WithScheduledLambdaVersion(f.version))
	if err != nil {
		t.Fatal(err)
	}
	f.at(t, "10:01:00")
	f.ts.stop()

	clock := testingclock.NewFakeClock(time.Date(2026, 11, 30, 10, 5, 30, 0, time.UTC))
	ts := startServer(t, analytics.Config{DataDir: dir, Clock: clock})
	// The runner runs the missed one as it starts; this round waits for it
	// (or runs it, whichever comes first), and it runs once either way.
	ts.srv.RunDueSchedules(ctx)
	got := getSchedule(t, ts.rc, sl.GetRrn())
	if got.GetExecutionCount() != 2 || got.GetCronString() != "0 * * ? * *" || got.GetVersion() != f.version ||
		got.GetLastCompletionDate() != "2026-11-30T10:05:30Z" || got.GetNextExecutionDate() != "2026-11-30T10:06:00Z" {
		t.Fatalf("after a restart and the missed run: count %d, cron %q, last %q, next %q",
			got.GetExecutionCount(), got.GetCronString(), got.GetLastCompletionDate(), got.GetNextExecutionDate())
	}
}

// TestScheduledLambdaRefused: what cannot make a schedule gets a clear
// error and changes nothing.
func TestScheduledLambdaRefused(t *testing.T) {
	f := newScheduleFixture(t, analytics.Config{})
	ctx := context.Background()
	rc := f.ts.rc
	if _, err := rc.CreateRole(ctx, "lister", option.WithWorkspacePrivilege(option.ListResourcesWs, "commons")); err != nil {
		t.Fatal(err)
	}
	lister, err := rc.CreateAPIKey(ctx, "lister", option.WithRole("lister"))
	if err != nil {
		t.Fatal(err)
	}
	const sl = "/v1/orgs/self/ws/commons/scheduled_lambdas"
	body := func(fields string) string {
		return `{"apikey":"` + f.key + `","cron_string":"0 0 0 ? * * *","ql_name":"tick"` + fields + `}`
	}
	for _, tc := range []struct {
		name, method, path, body string
		code                     int
		want                     string // in the message
	}{
		{"UNIX cron string", "POST", sl, `{"apikey":"` + f.key + `","cron_string":"* * * * *","ql_name":"tick","tag":"latest"}`, 400, "UNIX crontab"},
		{"cron string out of range", "POST", sl, `{"apikey":"` + f.key + `","cron_string":"0 61 * ? * *","ql_name":"tick","tag":"latest"}`, 400, "Quartz syntax"},
		{"cron string that never fires again", "POST", sl, `{"apikey":"` + f.key + `","cron_string":"0 0 0 ? * * 2020","ql_name":"tick","tag":"latest"}`, 400, "never fires"},
		{"neither version nor tag", "POST", sl, body(``), 400, "one of version or tag"},
		{"both version and tag", "POST", sl, body(`,"tag":"latest","version":"` + f.version + `"`), 400, "one of version or tag"},
		{"negative times", "POST", sl, body(`,"tag":"latest","total_times_to_execute":-1`), 400, "total_times_to_execute"},
		{"no such lambda", "POST", sl, `{"apikey":"` + f.key + `","cron_string":"0 0 0 ? * * *","ql_name":"nope","tag":"latest"}`, 404, "not found"},
		{"no such tag", "POST", sl, body(`,"tag":"prod"`), 404, `no tag \"prod\"`},
		{"no such version", "POST", sl, body(`,"version":"0123"`), 404, `no version \"0123\"`},
		{"not a key", "POST", sl, `{"apikey":"guess","cron_string":"0 0 0 ? * * *","ql_name":"tick","tag":"latest"}`, 400, "not an active API key"},
		{"a key that may not execute lambdas", "POST", sl, `{"apikey":"` + lister.Key + `","cron_string":"0 0 0 ? * * *","ql_name":"tick","tag":"latest"}`, 400, "EXECUTE_QUERY_LAMBDA_WS"},
		{"webhooks", "POST", sl, body(`,"tag":"latest","webhook_url":"https://example.com/hook"`), 501, "webhooks"},
		{"no such workspace", "POST", "/v1/orgs/self/ws/nowhere/scheduled_lambdas", body(`,"tag":"latest"`), 404, "not found"},
		{"get an unknown one", "GET", sl + "/rrn:sl:streamdash:nope", "", 404, "not found"},
		{"update an unknown one", "POST", sl + "/rrn:sl:streamdash:nope", `{"total_times_to_execute":1}`, 404, "not found"},
		{"delete an unknown one", "DELETE", sl + "/rrn:sl:streamdash:nope", "", 404, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, b := doAuthed(t, tc.method, f.ts.url+tc.path, []byte(tc.body))
			if code != tc.code || !strings.Contains(string(b), tc.want) {
				t.Fatalf("%d %s, want %d with %q", code, b, tc.code, tc.want)
			}
		})
	}
	if list, err := f.ts.srv.ListScheduledLambdas(ctx, "commons"); err != nil || len(list) != 0 {
		t.Fatalf("refused requests left schedules: %+v %v", list, err)
	}

	// Route privileges: a key without CREATE_SCHEDULED_LAMBDA_WS is refused.
	lrc := client(t, f.ts.url, lister.Key)
	if _, err := lrc.CreateScheduledLambda(ctx, "commons", f.key, "0 0 0 ? * * *", "tick", option.WithScheduledLambdaTag("latest")); err == nil ||
		!strings.Contains(err.Error(), "CREATE_SCHEDULED_LAMBDA_WS") {
		t.Fatalf("a lister created a schedule: %v", err)
	}
	// A workspace with a schedule is not empty.
	if _, err := rc.CreateWorkspace(ctx, "sched"); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.CreateQueryLambda(ctx, "sched", "q", "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	s, err := rc.CreateScheduledLambda(ctx, "sched", testKey, "0 0 0 ? * * *", "q", option.WithScheduledLambdaTag("latest"))
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.DeleteQueryLambda(ctx, "sched", "q"); err != nil {
		t.Fatal(err)
	}
	if code, b := doAuthed(t, "DELETE", f.ts.url+"/v1/orgs/self/ws/sched", nil); code != http.StatusBadRequest || !strings.Contains(string(b), s.GetRrn()) {
		t.Fatalf("deleting a workspace with a schedule: %d %s", code, b)
	}
}

// logLines is a server log the test can read.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logLines) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), "msg=\""+msg)
}

// TestScheduledLambdaOutcomeNotRecorded: when a run's outcome cannot be
// written to the metadata file (here its directory is made immutable, as a
// full disk refuses the write), the lambda is not run again each time the
// runner looks: the schedule goes on from the run's outcome, kept in
// memory, and the file catches up at the first run it can record.
func TestScheduledLambdaOutcomeNotRecorded(t *testing.T) {
	dir := t.TempDir()
	var log logLines
	f := newScheduleFixture(t, analytics.Config{DataDir: dir, Log: slog.New(slog.NewTextHandler(&log, nil))})
	ctx := context.Background()
	rc := f.ts.rc
	sl, err := rc.CreateScheduledLambda(ctx, "commons", f.key, "0 * * ? * *", "tick", option.WithScheduledLambdaVersion(f.version))
	if err != nil {
		t.Fatal(err)
	}
	rrn := sl.GetRrn()
	if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot make the data directory refuse writes (chattr needs root and ext4-like file systems): %v %s", err, out)
	}
	unlocked := false
	unlock := func() {
		if unlocked {
			return
		}
		unlocked = true
		if out, err := exec.Command("chattr", "-i", dir).CombinedOutput(); err != nil {
			t.Errorf("chattr -i: %v %s", err, out)
		}
	}
	t.Cleanup(unlock)

	const notRecorded = "scheduled lambda: outcome not recorded"
	for _, step := range []struct {
		at   string
		runs int // runs whose outcome was not recorded, so far
	}{
		{"10:01:00", 1}, // due: runs, the write is refused
		{"10:01:01", 1}, // the runner looking again a second later: not again
		{"10:01:30", 1},
		{"10:02:00", 2}, // the next fire time the run decided
		{"10:02:00", 2},
	} {
		f.at(t, step.at)
		if n := log.count(notRecorded); n != step.runs {
			t.Fatalf("at %s: %d runs not recorded, want %d", step.at, n, step.runs)
		}
	}
	if got := getSchedule(t, rc, rrn); got.GetExecutionCount() != 0 || got.GetNextExecutionDate() != "2026-11-30T10:01:00Z" {
		t.Fatalf("the file was written while refused: %+v", got)
	}

	unlock()
	f.at(t, "10:03:00")
	got := getSchedule(t, rc, rrn)
	if got.GetExecutionCount() != 1 || got.GetLastCompletionDate() != "2026-11-30T10:03:00Z" || got.GetNextExecutionDate() != "2026-11-30T10:04:00Z" {
		t.Fatalf("the first run recorded again: %+v", got)
	}
	if n := log.count(notRecorded); n != 2 {
		t.Fatalf("%d runs not recorded, want 2", n)
	}
}
