// Package rocksetsuite runs the public test suite of rockset-go-client (the
// `*_test.go` files its module ships) against a Rockset-API server and judges
// the outcome against a committed list: every test is listed as pass, fail or
// skip, and every test not expected to pass carries a one-line reason.
package rocksetsuite

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"
)

// The client whose suite is the judge.
const (
	ClientModule  = "github.com/rockset/rockset-go-client"
	ClientVersion = "v0.24.2"
)

// ModuleDir returns where the module cache holds the client, as the
// repository's go.mod resolves it (offline: `go mod download` put it there).
func ModuleDir(goBin, repoRoot string) (string, error) {
	cmd := exec.Command(goBin, "list", "-m", "-f", "{{.Dir}}", ClientModule+"@"+ClientVersion)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		return "", fmt.Errorf("%s@%s is not in the module cache (run go mod download): %v %s", ClientModule, ClientVersion, err, out)
	}
	return dir, nil
}

// PrepareModule makes dst a writable copy of the client module at src whose
// go.mod requires what the repository's go.mod requires. The repository's
// go.mod and go.sum name every module the client's tests import (see
// clientdeps.go), so the copy builds from the module cache alone. dst is
// reused between runs (same path, same files), which keeps Go's build cache
// warm: only changed files are copied.
func PrepareModule(src, dst, repoGoMod, repoGoSum string) error {
	if err := copyTree(src, dst); err != nil {
		return err
	}
	data, err := os.ReadFile(repoGoMod)
	if err != nil {
		return err
	}
	mf, err := modfile.Parse(repoGoMod, data, nil)
	if err != nil {
		return err
	}
	if err := mf.AddModuleStmt(ClientModule); err != nil {
		return err
	}
	if err := mf.DropRequire(ClientModule); err != nil {
		return err
	}
	mf.Cleanup()
	out, err := mf.Format()
	if err != nil {
		return err
	}
	if err := writeIfChanged(filepath.Join(dst, "go.mod"), out); err != nil {
		return err
	}
	sum, err := os.ReadFile(repoGoSum)
	if err != nil {
		return err
	}
	return writeIfChanged(filepath.Join(dst, "go.sum"), sum)
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return writeIfChanged(target, data)
	})
}

// writeIfChanged keeps the modification time of unchanged files.
func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && string(old) == string(data) {
		return nil
	}
	return os.WriteFile(path, data, 0o644)
}

// Outcome is what became of one test.
type Outcome string

// Outcomes. Flaky is only an expectation: the test passes or fails with
// the machine's load, not with the server. Missing means the test never reported a result: its process
// exited first (an example calling log.Fatal ends the whole test binary).
const (
	Pass    Outcome = "pass"
	Fail    Outcome = "fail"
	Skip    Outcome = "skip"
	Flaky   Outcome = "flaky"
	Missing Outcome = "missing"
)

// Result is one test's outcome and its output.
type Result struct {
	Name    string // package.Test/Subtest, package being the import path's last element
	Outcome Outcome
	Output  []string
}

// FirstError is the first line of a failed test's output that says why: a
// testify "Error:" line or the first line that is not run bookkeeping.
func (r *Result) FirstError() string {
	for i, l := range r.Output {
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "Error:") {
			msg := strings.TrimSpace(strings.TrimPrefix(t, "Error:"))
			for _, next := range r.Output[i+1:] {
				n := strings.TrimSpace(next)
				if n == "" || strings.HasPrefix(n, "Test:") || strings.HasPrefix(n, "Messages:") {
					break
				}
				msg += " " + n
			}
			return msg
		}
	}
	for _, l := range r.Output {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- ") {
			continue
		}
		return t
	}
	return ""
}

type testEvent struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// ParseJSON reads `go test -json` output into results by test name; runs
// without a result count as failures, and a package that fails without any
// failing test (a build error, a crash outside tests) is an error.
func ParseJSON(r io.Reader, into map[string]*Result) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	pkgFailed := map[string][]string{}
	pkgOutput := map[string][]string{}
	testFailedIn := map[string]bool{}
	unfinished := map[string]string{} // test name -> package
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var ev testEvent
		if err := json.Unmarshal(line, &ev); err != nil {
			return fmt.Errorf("go test -json: %w: %s", err, line)
		}
		pkg := ev.Package[strings.LastIndex(ev.Package, "/")+1:]
		if pkg == "rockset-go-client" {
			pkg = "rockset"
		}
		if ev.Test == "" {
			switch ev.Action {
			case "output":
				pkgOutput[pkg] = append(pkgOutput[pkg], strings.TrimRight(ev.Output, "\n"))
			case "fail":
				pkgFailed[pkg] = pkgOutput[pkg]
			}
			continue
		}
		name := pkg + "." + ev.Test
		res := into[name]
		if res == nil {
			res = &Result{Name: name, Outcome: Missing}
			into[name] = res
		}
		switch ev.Action {
		case "run":
			res.Outcome, res.Output = Fail, nil // started: a result must follow
			unfinished[name] = pkg
		case "output":
			res.Output = append(res.Output, strings.TrimRight(ev.Output, "\n"))
		case "pass", "fail", "skip":
			res.Outcome = Outcome(ev.Action)
			delete(unfinished, name)
			if ev.Action == "fail" {
				testFailedIn[pkg] = true
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	for name, pkg := range unfinished {
		testFailedIn[pkg] = true // its process ended under it
		into[name].Output = append(into[name].Output, pkgOutput[pkg]...)
	}
	for pkg, out := range pkgFailed {
		if !testFailedIn[pkg] {
			return fmt.Errorf("package %s failed outside its tests:\n%s", pkg, strings.Join(out, "\n"))
		}
	}
	return nil
}

// Expectation is one line of the committed list.
type Expectation struct {
	Name    string
	Outcome Outcome
	Reason  string
	Line    int
}

// ParseExpected reads the list: `outcome name [-- reason]`, one test a line,
// `#` comments. Every test not expected to pass needs its reason.
func ParseExpected(r io.Reader) ([]Expectation, error) {
	var out []Expectation
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		body, reason, _ := strings.Cut(line, " -- ")
		f := strings.Fields(body)
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: want `outcome name [-- reason]`, got %q", n, line)
		}
		e := Expectation{Outcome: Outcome(f[0]), Name: f[1], Reason: strings.TrimSpace(reason), Line: n}
		switch e.Outcome {
		case Pass:
		case Fail, Skip, Flaky:
			if e.Reason == "" || strings.HasPrefix(e.Reason, "DRAFT") {
				return nil, fmt.Errorf("line %d: %s is expected to %s: say why after ` -- ` (a DRAFT reason is a machine's guess)", n, e.Name, e.Outcome)
			}
		default:
			return nil, fmt.Errorf("line %d: outcome %q: want pass, fail, skip or flaky", n, f[0])
		}
		if prev, ok := seen[e.Name]; ok {
			return nil, fmt.Errorf("line %d: %s is already listed on line %d", n, e.Name, prev)
		}
		seen[e.Name] = n
		out = append(out, e)
	}
	return out, sc.Err()
}

// Compare lists every difference between the expectations and the results:
// a test that did not do what the list says (better or worse), a test the
// list does not name, a listed test that no longer exists.
func Compare(exp []Expectation, got map[string]*Result) []string {
	var problems []string
	listed := map[string]bool{}
	for _, e := range exp {
		listed[e.Name] = true
		r, ok := got[e.Name]
		if !ok {
			r = &Result{Name: e.Name, Outcome: Missing}
		}
		if e.Outcome == r.Outcome || (e.Outcome == Fail && r.Outcome == Missing) ||
			(e.Outcome == Flaky && (r.Outcome == Pass || r.Outcome == Fail)) {
			continue
		}
		switch {
		case e.Outcome == Pass:
			problems = append(problems, fmt.Sprintf("%s: expected to pass, got %s: %s", e.Name, r.Outcome, r.FirstError()))
		case r.Outcome == Pass:
			problems = append(problems, fmt.Sprintf("%s: passes now (listed as %s: %s): list it as pass", e.Name, e.Outcome, e.Reason))
		default:
			problems = append(problems, fmt.Sprintf("%s: expected %s, got %s: %s", e.Name, e.Outcome, r.Outcome, r.FirstError()))
		}
	}
	var names []string
	for n := range got {
		if !listed[n] {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		problems = append(problems, fmt.Sprintf("%s: not in the list (got %s: %s)", n, got[n].Outcome, got[n].FirstError()))
	}
	return problems
}

// Counts tallies outcomes.
func Counts(got map[string]*Result) map[Outcome]int {
	c := map[Outcome]int{}
	for _, r := range got {
		c[r.Outcome]++
	}
	return c
}

// Format writes results as a list in ParseExpected's format, keeping the
// reasons of old for tests whose outcome did not change and the first error
// line as a draft reason for the others (to be rewritten by a person).
func Format(w io.Writer, header string, old []Expectation, got map[string]*Result) error {
	reasons := map[string]Expectation{}
	for _, e := range old {
		reasons[e.Name] = e
	}
	names := make([]string, 0, len(got))
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(names)
	if _, err := io.WriteString(w, header); err != nil {
		return err
	}
	for _, n := range names {
		r := got[n]
		o := r.Outcome
		if o == Missing {
			o = Fail
		}
		if e, ok := reasons[n]; ok && e.Outcome == Flaky && (o == Pass || o == Fail) {
			if _, err := fmt.Fprintf(w, "%s %s -- %s\n", Flaky, n, e.Reason); err != nil {
				return err
			}
			continue
		}
		line := fmt.Sprintf("%s %s", o, n)
		if o != Pass {
			reason := "DRAFT " + r.FirstError()
			if r.Outcome == Missing {
				reason = "DRAFT did not run"
			}
			if e, ok := reasons[n]; ok && (e.Outcome == o) {
				reason = e.Reason
			}
			line += " -- " + reason
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}
