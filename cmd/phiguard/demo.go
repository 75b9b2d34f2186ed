package main

import (
	"fmt"
	"io"
)

func runDemo(_ []string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "phiguard demo: not built yet")
	return 1
}
