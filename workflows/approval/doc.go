// Package approval gates workflow steps on human decisions: a gate opens with Gates.Await and closes
// on a quorum of approvals, one rejection or its timeout, with decisions arriving as a validated
// Update or its signal twin and the state answering a query. A workflow that opens gates must drain
// the handlers before it completes or continues as new:
// workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }).
package approval
