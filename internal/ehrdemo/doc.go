// Package ehrdemo holds a small legacy-looking EHR database: a schema
// (schema.sql) and a Synthea sample of 111 synthetic patients with their
// encounters, conditions, medications, immunizations, allergies and care
// plans, embedded into the binary as CSV.
//
// It exists so that `phiguard demo` and the tests have realistic PHI to
// protect without a network or a checkout of anything else: Load creates
// the tables in an empty database and fills them with COPY, in one
// transaction. The data is synthetic (no real person's records); its source
// and MIT licence are in data/README.md and data/LICENSE.
//
// The schema deliberately looks like what phiguard meets in the field rather
// than like a greenfield design: PHI sits in plain text and in typed columns
// (date of birth, SSN, names, addresses), clinical tables point at patients
// through foreign keys, and the usual lookup indexes exist (patients by SSN
// and name, every clinical table by patient). Column names are the Synthea
// CSV headers lower-cased, so a CSV file and its table line up one to one.
//
// For `phiguard demo` it also holds the demo policy (demo-policy.yml, the
// same file as examples/demo-policy.yml), its users (DemoUsers) and the
// care-team table its clinician rules read (demo.sql); LoadProtected loads
// the sample with the patients copied through a phiguard that encrypts them,
// as the demo and the access-policy integration suite do.
package ehrdemo
