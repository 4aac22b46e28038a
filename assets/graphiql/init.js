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
  ].join("\n");
  var fetcher = GraphiQL.createFetcher({ url: window.location.pathname });
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
