package delivery_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a goroutine outlives its tests: every
// engine the tests start must be stopped, and Stop must leave nothing
// running.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
