// Package searchattr registers the search attributes Lifeboat's workflows set, so that a fresh
// namespace (the dev server's, or a new cluster's) is ready before the first workflow runs.
package searchattr
