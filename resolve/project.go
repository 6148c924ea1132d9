package resolve

import "context"

// The AppProject a registry request is made for travels in the request's
// context, as the policy does (policyTag): ResolveOne puts Spec.Project
// there, the cache's shared fetch keeps the values of the context it was
// started with (context.WithoutCancel), and limitTransport reads it to
// share each registry's request budget fairly between projects. A fetch
// that several renders wait for counts for the project of the render that
// started it.

type projectContextKey struct{}

// withProject marks ctx with the AppProject its registry requests are for.
func withProject(ctx context.Context, project string) context.Context {
	return context.WithValue(ctx, projectContextKey{}, project)
}

// projectOf is the AppProject of a request's context; "" when none was
// given (a command line resolution), which counts as a project of its own.
func projectOf(ctx context.Context) string {
	p, _ := ctx.Value(projectContextKey{}).(string)
	return p
}
