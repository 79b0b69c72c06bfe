// Command herald is Herald's one binary: the server, the local receiver,
// the API client commands and the tools around them.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/heraldhq/herald/internal/cli"
)

func main() {
	err := cli.Main(context.Background(), os.Args[1:], cli.Streams{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "herald:", err)
	var ue *cli.UsageError
	if errors.As(err, &ue) {
		os.Exit(2)
	}
	os.Exit(1)
}
