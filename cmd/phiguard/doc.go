// Command phiguard is the one binary of the project:
//
//	phiguard serve --config FILE   run the proxy (and the admin HTTP listener)
//	phiguard check --config FILE   validate a configuration, print every problem
//	phiguard keys init --config FILE   create the policy's data keys; also keys rotate, retire,
//	                               status, master-key (a new master key for the local provider)
//	phiguard encrypt --config FILE encrypt existing plaintext in place, online and resumable;
//	                               --reencrypt moves cells to the write version (backfill.go);
//	                               adds the cells-only CHECK to each column left without plaintext
//	phiguard decrypt --config FILE --table T   back to plaintext, the same way (drops that CHECK first)
//	phiguard demo                  a throwaway PostgreSQL with the demo EHR encrypted at rest, phiguard
//	                               in front with a local keyring, four roles and the audit trail
//	phiguard version               print the version
//
// Each subcommand lives in its own file; main.go only dispatches.
package main
