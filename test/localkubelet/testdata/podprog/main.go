// Command podprog is the program the localkubelet tests run as a pod: it
// serves its own arguments, environment and the files it was told to read,
// so a test sees exactly what the stand-in gave the process.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

func main() {
	listen := flag.String("listen", "", "address to serve on")
	gate := flag.String("gate", "", "when set, /healthz answers 200 only while this file exists")
	exitNow := flag.Int("exit-now", -1, "exit at once with this code")
	child := flag.Bool("child", false, "start a long-running child process in the same process group")
	var reads fileList
	flag.Var(&reads, "read", "file to report in /info (repeatable)")
	flag.Parse()
	if *exitNow >= 0 {
		fmt.Println("exiting at once with", *exitNow)
		os.Exit(*exitNow)
	}
	childPID := 0
	if *child {
		c := exec.Command("sleep", "3600")
		if err := c.Start(); err != nil {
			panic(err)
		}
		childPID = c.Process.Pid
	}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if *gate != "" {
			if _, err := os.Stat(*gate); err != nil {
				http.Error(w, "gate closed", http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	http.HandleFunc("/info", func(w http.ResponseWriter, r *http.Request) {
		files := map[string]string{}
		for _, p := range reads {
			b, err := os.ReadFile(p)
			if err != nil {
				files[p] = "ERROR: " + err.Error()
				continue
			}
			files[p] = string(b)
		}
		env := map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		wd, _ := os.Getwd()
		_ = json.NewEncoder(w).Encode(map[string]any{
			"args": os.Args[1:], "env": env, "files": files, "pid": os.Getpid(), "childPid": childPID, "cwd": wd,
		})
	})
	http.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		fmt.Println("asked to exit with", code)
		os.Exit(code)
	})
	fmt.Println("listening on", *listen)
	if err := http.ListenAndServe(*listen, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
