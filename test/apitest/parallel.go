package apitest

import (
	"flag"
	"strconv"
)

// WaitBoundParallel makes go test run up to n parallel tests at once
// instead of GOMAXPROCS (2 on the machines CI runs on), unless the command
// line gives -test.parallel. It is for suites whose tests wait on servers,
// intervals and pods far more than they compute; call it from TestMain
// after flag.Parse and before m.Run.
func WaitBoundParallel(n int) {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		if err := flag.Set("test.parallel", strconv.Itoa(n)); err != nil {
			panic(err) // only if the testing package renamed its flag
		}
	}
}
