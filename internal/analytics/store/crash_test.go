package store_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/streamdash/streamdash/internal/analytics/store"
)

// crashChildEnv makes the test binary act as a process that writes batches
// with schema changes and then waits to be killed.
const crashChildEnv = "STREAMDASH_STORE_CRASH_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		os.Exit(crashChild(path))
	}
	os.Exit(m.Run())
}

// crashChild writes three batches, each bringing new fields or a widened
// type (so each one changes the schema) and then a batch of plain data, and
// says "written" once every batch is committed.
func crashChild(path string) int {
	ctx := context.Background()
	s, err := store.Open(path)
	if err != nil {
		fmt.Println("open:", err)
		return 2
	}
	c, err := s.Collection(ctx, "c_crash")
	if err != nil {
		fmt.Println("collection:", err)
		return 2
	}
	batches := [][]string{
		{`{"_id":"1","n":1}`},
		{`{"_id":"2","n":2,"user":{"name":"a"}}`},
		{`{"_id":"3","n":"three","user":{"name":"b","followers":5}}`},
		{`{"_id":"4","n":4}`, `{"_id":"1","n":10}`},
	}
	for i, b := range batches {
		var batch store.Batch
		for _, d := range b {
			batch.Records = append(batch.Records, store.Record{Data: []byte(d), RID: fmt.Sprintf("r%d", i), Arrival: time.Now()})
		}
		if _, err := c.Write(ctx, batch); err != nil {
			fmt.Println("write:", err)
			return 2
		}
	}
	fmt.Println("written")
	select {} // wait for SIGKILL
}

// A process killed after committing batches that changed the schema leaves a
// database that opens again with every committed document: DuckDB cannot
// replay schema changes mixed with updates from its WAL, so the store must
// never leave them there.
func TestKilledAfterSchemaChangesReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.duckdb")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if strings.TrimSpace(line) != "written" {
		t.Fatalf("child said %q, want written", line)
	}

	s, err := store.Open(path)
	if err != nil {
		t.Fatalf("reopen after the crash: %v", err)
	}
	defer s.Close()
	var n, distinct int
	var followers int64
	if err := s.DB().QueryRow(`SELECT count(*), count(DISTINCT _id), max(("user").followers) FROM c_crash`).Scan(&n, &distinct, &followers); err != nil {
		t.Fatal(err)
	}
	if n != 4 || distinct != 4 || followers != 5 {
		t.Errorf("after the crash: %d documents (%d distinct), max followers %d; want 4, 4, 5", n, distinct, followers)
	}
}
