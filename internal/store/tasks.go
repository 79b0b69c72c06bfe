package store

import "time"

// The kinds of Task, and the JSON of each one's Params. The code that
// starts a task (the API's service) and the code that runs it
// (internal/maintenance) share them here, so that neither imports the other.

// TaskRecover is the Kind of an endpoint recovery task; its Params are
// RecoverTaskParams as JSON.
const TaskRecover = "endpoint.recover"

// RecoverTaskParams is the input of an endpoint recovery task: the window
// whose failed or skipped deliveries are sent again. A zero Until means no
// upper bound.
type RecoverTaskParams struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until,omitzero"`
}
