// Command compose-go loads a Compose file with compose-go, the library `docker compose` itself
// uses, and prints the normalized project as JSON: what `docker compose config --format json`
// prints, without needing the Docker CLI plugin. Used by test/unit/compose.test.ts when Go is
// installed.
//
// Usage: go run . <compose-file> <project-dir> [env-file...]
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: compose-go <compose-file> <project-dir> [env-file...]")
		os.Exit(2)
	}
	opts, err := cli.NewProjectOptions([]string{os.Args[1]},
		cli.WithWorkingDirectory(os.Args[2]),
		cli.WithEnvFiles(os.Args[3:]...),
		cli.WithDotEnv,
		cli.WithName("healthsynth"),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, err := project.MarshalJSON()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(string(out))
}
