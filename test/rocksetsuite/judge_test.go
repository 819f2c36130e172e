package rocksetsuite

import (
	"strings"
	"testing"
)

func TestParseJSON(t *testing.T) {
	const pkg = `"Package":"github.com/rockset/rockset-go-client"`
	tests := []struct {
		name    string
		events  string
		want    map[string]Outcome
		wantErr string
	}{
		{
			name: "pass fail skip and a subtest",
			events: `{"Action":"run",` + pkg + `,"Test":"TestA"}
{"Action":"pass",` + pkg + `,"Test":"TestA"}
{"Action":"run",` + pkg + `,"Test":"TestB"}
{"Action":"run",` + pkg + `,"Test":"TestB/x"}
{"Action":"output",` + pkg + `,"Test":"TestB/x","Output":"    Error: boom\n"}
{"Action":"fail",` + pkg + `,"Test":"TestB/x"}
{"Action":"fail",` + pkg + `,"Test":"TestB"}
{"Action":"run","Package":"github.com/rockset/rockset-go-client/writer","Test":"TestC"}
{"Action":"skip","Package":"github.com/rockset/rockset-go-client/writer","Test":"TestC"}
{"Action":"fail",` + pkg + `}`,
			want: map[string]Outcome{"rockset.TestA": Pass, "rockset.TestB": Fail, "rockset.TestB/x": Fail, "writer.TestC": Skip},
		},
		{
			name: "a test whose process exits under it fails",
			events: `{"Action":"run",` + pkg + `,"Test":"ExampleX"}
{"Action":"output",` + pkg + `,"Output":"2026/11/30 log.Fatal said so\n"}
{"Action":"fail",` + pkg + `}`,
			want: map[string]Outcome{"rockset.ExampleX": Fail},
		},
		{
			name:    "a package that fails with no failing test is an error",
			events:  `{"Action":"output",` + pkg + `,"Output":"build failed\n"}` + "\n" + `{"Action":"fail",` + pkg + `}`,
			wantErr: "failed outside its tests",
		},
		{
			name:    "broken JSON is an error",
			events:  `{"Action":`,
			wantErr: "go test -json",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]*Result{}
			err := ParseJSON(strings.NewReader(tc.events), got)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Errorf("got %d results, want %d", len(got), len(tc.want))
			}
			for n, o := range tc.want {
				if got[n] == nil || got[n].Outcome != o {
					t.Errorf("%s: got %+v, want %s", n, got[n], o)
				}
			}
		})
	}
}

func TestFirstError(t *testing.T) {
	r := &Result{Output: []string{"=== RUN   TestB/x", "    x_test.go:9: ", "        \tError Trace:\tx_test.go:9", "        \tError:      \tNot equal:", "        \t            \texpected: 1", "        \tTest:       \tTestB/x"}}
	if got, want := r.FirstError(), "Not equal: expected: 1"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	r = &Result{Output: []string{"=== RUN   ExampleX", "2026/11/30 07:00:00 no such lambda"}}
	if got, want := r.FirstError(), "2026/11/30 07:00:00 no such lambda"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParseExpected(t *testing.T) {
	tests := []struct {
		name, text string
		want       int
		wantErr    string
	}{
		{"comments and blank lines", "# c\n\npass rockset.TestA\nfail rockset.TestB -- not supported\nskip writer.TestC -- needs Docker\n", 3, ""},
		{"a failure needs a reason", "fail rockset.TestB\n", 0, "say why"},
		{"a draft reason is refused", "fail rockset.TestB -- DRAFT boom\n", 0, "say why"},
		{"unknown outcome", "maybe rockset.TestB -- sometimes\n", 0, "want pass, fail, skip or flaky"},
		{"flaky needs a reason", "flaky rockset.TestB\n", 0, "say why"},
		{"listed twice", "pass rockset.TestA\npass rockset.TestA\n", 0, "already listed on line 1"},
		{"malformed", "pass\n", 0, "want `outcome name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseExpected(strings.NewReader(tc.text))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(got) != tc.want {
				t.Fatalf("got %d, %v; want %d", len(got), err, tc.want)
			}
		})
	}
}

func TestCompare(t *testing.T) {
	exp := []Expectation{
		{Name: "a.Pass", Outcome: Pass},
		{Name: "a.Regressed", Outcome: Pass},
		{Name: "a.Improved", Outcome: Fail, Reason: "r"},
		{Name: "a.Crashed", Outcome: Fail, Reason: "r"},
		{Name: "a.Gone", Outcome: Pass},
		{Name: "a.Skipped", Outcome: Skip, Reason: "r"},
		{Name: "a.FlakyFailed", Outcome: Flaky, Reason: "r"},
		{Name: "a.FlakyPassed", Outcome: Flaky, Reason: "r"},
		{Name: "a.FlakyGone", Outcome: Flaky, Reason: "r"},
	}
	got := map[string]*Result{
		"a.Pass":        {Outcome: Pass},
		"a.Regressed":   {Outcome: Fail, Output: []string{"Error: boom"}},
		"a.Improved":    {Outcome: Pass},
		"a.Crashed":     {Outcome: Missing},
		"a.Skipped":     {Outcome: Skip},
		"a.New":         {Outcome: Pass},
		"a.FlakyFailed": {Outcome: Fail},
		"a.FlakyPassed": {Outcome: Pass},
	}
	problems := strings.Join(Compare(exp, got), "\n")
	for _, want := range []string{
		"a.Regressed: expected to pass, got fail: boom",
		"a.Improved: passes now",
		"a.Gone: expected to pass, got missing",
		"a.New: not in the list",
		"a.FlakyGone: expected flaky, got missing",
	} {
		if !strings.Contains(problems, want) {
			t.Errorf("problems lack %q:\n%s", want, problems)
		}
	}
	for _, quiet := range []string{"a.Pass:", "a.Crashed:", "a.Skipped:", "a.FlakyFailed:", "a.FlakyPassed:"} {
		if strings.Contains(problems, quiet) {
			t.Errorf("%s is as expected, yet reported:\n%s", quiet, problems)
		}
	}
}
