// Starts GraphiQL on the page served at GET /graphql. Kept out of the page so
// its Content-Security-Policy can refuse inline scripts.
(function () {
  var welcome = [
    "# Welcome to usergraph.",
    "#",
    "# 1. Run Register (the play button asks which",
    "#    operation), or log in with `login`.",
    "# 2. Copy its accessToken into the Headers tab:",
    "#    { \"Authorization\": \"Bearer <accessToken>\" }",
    "# 3. Run Me. The Docs button (top left)",
    "#    describes every operation.",
    "# 4. Run SessionEvents: it stays open over a",
    "#    WebSocket (same headers) and shows your",
    "#    sessions ending, e.g. a logout elsewhere.",
    "",
    "mutation Register {",
    "  register(input: {",
    "    username: \"alice\"",
    "    email: \"alice@example.com\"",
    "    password: \"tangerine-kettle-42\"",
    "  }) {",
    "    accessToken",
    "    refreshToken",
    "    user { id username }",
    "  }",
    "}",
    "",
    "query Me {",
    "  me { id username email roles { name } }",
    "}",
    "",
    "subscription SessionEvents {",
    "  mySessionEvents { action sessionId endsThisSession at }",
    "}",
    "",
  ].join("\n");
  var http = GraphiQL.createFetcher({ url: window.location.pathname });
  var socketUrl =
    (window.location.protocol === "https:" ? "wss://" : "ws://") +
    window.location.host + window.location.pathname + "/ws";

  // One graphql-ws client per set of headers: the Headers tab's
  // Authorization goes into connection_init, as the server reads it there.
  var clients = {};
  function socketFor(headers) {
    var key = JSON.stringify(headers || {});
    if (!clients[key]) {
      clients[key] = graphqlWs.createClient({
        url: socketUrl,
        connectionParams: headers || {},
        lazy: true,
        retryAttempts: 0,
      });
    }
    return clients[key];
  }

  // The operation that runs is a subscription: the named one, or the only one.
  function isSubscription(params, opts) {
    var doc = opts && opts.documentAST;
    if (!doc) return /^\s*subscription\b/.test(params.query || "");
    var operations = doc.definitions.filter(function (d) {
      return d.kind === "OperationDefinition";
    });
    var chosen = operations.filter(function (d) {
      return !params.operationName || (d.name && d.name.value === params.operationName);
    })[0];
    return !!chosen && chosen.operation === "subscription";
  }

  function fetcher(params, opts) {
    if (!isSubscription(params, opts)) return http(params, opts);
    var client = socketFor(opts && opts.headers);
    return {
      subscribe: function (observer) {
        var sink = {
          next: function (value) { observer.next(value); },
          error: function (error) {
            // A closed socket (a bad token, a session that ended) has no
            // GraphQL errors of its own: show why it closed.
            var reason = error && error.reason !== undefined
              ? { errors: [{ message: "the socket closed (" + error.code + "): " + error.reason }] }
              : error;
            observer.next(reason);
            observer.complete();
          },
          complete: function () { observer.complete(); },
        };
        var dispose = client.subscribe(params, sink);
        return { unsubscribe: dispose };
      },
    };
  }
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: welcome,
      defaultEditorToolsVisibility: "headers",
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
    })
  );
})();
