// Routing, with each route's pipeline composed once at start-up. @koa/router's own dispatch tests
// every route's path (with a debug call each), reads the Host header and composes the matched stack
// anew on every request. Here a request whose method and path are served by exactly one route runs
// that route's composed pipeline, with the same context facts @koa/router sets (params, captures,
// `_matchedRoute`, …) and the same path regexps (the router's own layers). Everything else (no route,
// several routes, a method no route of that path has) goes to @koa/router unchanged, so 404, 405 with
// `Allow`, OPTIONS and 501 are answered as before.
import type Router from '@koa/router';
import type { RouterContext } from '@koa/router';
import compose from 'koa-compose';
import type { Middleware } from 'koa';

type Layer = Router['stack'][number];

interface CompiledRoute {
  layer: Layer;
  pipeline: compose.ComposedMiddleware<Parameters<Middleware>[0]>;
}

/** The router's routes by method, each with its pipeline composed. */
function compile(router: Router): Map<string, CompiledRoute[]> {
  const byMethod = new Map<string, CompiledRoute[]>();
  for (const layer of router.stack) {
    const pipeline = compose(layer.stack as Middleware[]);
    for (const method of layer.methods) {
      const routes = byMethod.get(method) ?? [];
      routes.push({ layer, pipeline });
      byMethod.set(method, routes);
    }
  }
  return byMethod;
}

/** The one route serving this method and path, or undefined when none or several do. */
function onlyMatch(routes: CompiledRoute[] | undefined, path: string): CompiledRoute | undefined {
  let found: CompiledRoute | undefined;
  for (const route of routes ?? []) {
    if (!route.layer.match(path)) continue;
    if (found) return undefined; // @koa/router chains them: leave that to it
    found = route;
  }
  return found;
}

/** `router.routes()` with a precompiled path for the routes that alone serve a request. Mount after every route. */
export function dispatch(router: Router): Middleware {
  const routes = compile(router);
  const fallback = router.routes() as Middleware;
  return (ctx, next) => {
    const path = ctx.path;
    const route = onlyMatch(routes.get(ctx.method), path);
    if (!route) return fallback(ctx, next);
    const { layer } = route;
    const routed = ctx as RouterContext & Record<string, unknown>;
    routed.router = router;
    routed.routeMatched = true;
    routed.captures = layer.captures(path);
    routed.request.params = layer.params(path, routed.captures, routed.params);
    routed.params = routed.request.params;
    routed.routerPath = layer.path as string; // mount() registers string paths only
    routed.routerName = layer.name;
    routed._matchedRoute = layer.path;
    if (layer.name) routed._matchedRouteName = layer.name;
    // Every route that matches the path, whatever its method: only allowedMethods reads it, after a
    // pipeline that passes the request on, so it is worked out then.
    return route.pipeline(ctx, () => {
      routed.matched = router.match(path, ctx.method).path;
      return next();
    });
  };
}
