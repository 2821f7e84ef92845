package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"go.temporal.io/sdk/activity"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/notify/lognotify"
)

// Notifications delivers alerts through the worker's notification routes.
type Notifications struct {
	Router *notify.Router
	Logger *slog.Logger
}

// Notify delivers a message. It fails (and is retried) only when no channel accepted it; a channel
// that is down while another took the message shows in the deliveries.
func (n *Notifications) Notify(ctx context.Context, in contract.NotifyInput) (contract.NotifyResult, error) {
	if n.Router == nil {
		logger := n.Logger
		if logger == nil {
			logger = slog.Default()
		}
		err := (&lognotify.Notifier{Logger: logger}).Notify(ctx, in.Message)
		return contract.NotifyResult{Deliveries: []notify.Delivery{{Notifier: "log", Route: "default"}}}, err
	}
	if in.Message.ID == "" && activity.IsActivity(ctx) {
		// Stable across this activity's retries: a delivery repeated after a crash can be dropped.
		info := activity.GetInfo(ctx)
		sum := sha256.Sum256([]byte(info.WorkflowExecution.ID + "/" + info.WorkflowExecution.RunID + "/" + info.ActivityID))
		in.Message.ID = hex.EncodeToString(sum[:16])
	}
	deliveries, err := n.Router.Notify(ctx, in.Routes, in.Message)
	return contract.NotifyResult{Deliveries: deliveries}, err
}
