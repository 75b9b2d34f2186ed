// Package subjecttest checks a keys.SubjectStore implementation: the
// behaviour crypto-shredding relies on, shared by the tests of keys/local
// and keys/vault so both providers are held to the same contract.
package subjecttest
