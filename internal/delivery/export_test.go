package delivery

import (
	"context"

	"github.com/heraldhq/herald/internal/store"
)

// WriteCompletions writes a batch of completions as the engine's committer
// does.
func (e *Engine) WriteCompletions(ctx context.Context, cs []store.Completion) ([]error, error) {
	return e.writeCompletions(ctx, cs)
}
