// Command node starts and stops the local single-node Kubernetes cluster
// (test/node) by hand, as root:
//
//	go run ./hack/node up [image.tar ...]   # start, import images, print the kubeconfig, return
//	go run ./hack/node down                  # stop it and remove everything it put on the machine
//	go run ./hack/node status
//
// make node-up and make node-down wrap these.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/streamdash/streamdash/test/node"
)

func main() {
	force := flag.Bool("force", false, "down: stop the node even while a demo or test uses it")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: node [-force] up [image.tar ...] | down | status")
	}
	flag.Parse()
	if err := run(flag.Args(), *force); err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		os.Exit(1)
	}
}

func run(args []string, force bool) error {
	if len(args) == 0 {
		flag.Usage()
		return fmt.Errorf("no command")
	}
	switch args[0] {
	case "up":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		n, err := node.Start(ctx, node.Options{Owner: "hack/node up", Images: args[1:], Progress: os.Stdout})
		if err != nil {
			return err
		}
		if err := n.HandOver("hack/node up (stop it with make node-down)"); err != nil {
			_ = n.Stop()
			return err
		}
		fmt.Printf("export KUBECONFIG=%s; %s get nodes\n", n.Kubeconfig, n.Kubectl)
		return nil
	case "down":
		return node.Down(os.Stdout, force)
	case "status":
		fmt.Println(node.Status())
		return nil
	}
	flag.Usage()
	return fmt.Errorf("unknown command %q", args[0])
}
