// Command fetch GETs a URL and prints the status and body; it exits 1 when
// the request fails or does not answer 200. The end-to-end suite runs it
// in a pod to reach Services by their DNS names, as another workload would.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: fetch URL")
		os.Exit(2)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(os.Args[1])
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Printf("%s\n%s\n", resp.Status, body)
	if resp.StatusCode != http.StatusOK {
		os.Exit(1)
	}
}
