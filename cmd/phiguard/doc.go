// Command phiguard is the one binary of the project:
//
//	phiguard serve --config FILE   run the proxy (and the admin HTTP listener)
//	phiguard check --config FILE   validate a configuration, print every problem
//	phiguard demo                  a throwaway PostgreSQL with a demo EHR, phiguard in front
//	phiguard version               print the version
//
// Each subcommand lives in its own file; main.go only dispatches.
package main
