%% The npm package for protocol authors, as a user gets it: `make package'
%% packs it, a fresh project (examples/starter) installs the tarball, compiles
%% under the strictest common flags against its declarations, and tests its
%% protocol with erlang-reactor/testing under node:test, jest and vitest; the checker
%% refuses a misspelled action with its file and line.
-module(reactor_package_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

all() -> [tarball_holds_javascript_and_declarations_only, shipped_declarations_are_current,
          starter_compiles_and_tests, check_refuses_a_misspelled_action,
          typecheck_refuses_at_start].

init_per_suite(Config) ->
    Root = reactor_test_lib:root(),
    Out = run(Root, "node scripts/pack.mjs"),
    ct:log("~ts", [Out]),
    [_Rc, Tgz | _] = lists:reverse(string:lexemes(binary_to_list(Out), "\n")),
    ?assert(filelib:is_regular(Tgz)),
    Project = filename:join(?config(priv_dir, Config), "starter"),
    "" = os:cmd("cp -r '" ++ filename:join(Root, "examples/starter") ++ "' '" ++ Project ++ "'"),
    %% typescript and @types/node as the repository pins them (from npm's cache when it has them)
    Install = run(Project, "npm install --no-audit --no-fund --prefer-offline '" ++ Tgz ++
                           "' typescript@" ++ pinned(Root, "typescript") ++
                           " @types/node@" ++ pinned(Root, "@types/node") ++ " vitest@3.2.7"),
    ct:log("~ts", [Install]),
    [{tgz, Tgz}, {project, Project}, {root, Root} | Config].

end_per_suite(_Config) -> ok.

tarball_holds_javascript_and_declarations_only(Config) ->
    Files = string:lexemes(os:cmd("tar tzf '" ++ ?config(tgz, Config) ++ "'"), "\n"),
    ct:log("~p", [Files]),
    Sources = [F || F <- Files, lists:suffix(".ts", F), not lists:suffix(".d.ts", F)],
    ?assertEqual([], Sources),
    [?assert(lists:member("package/dist/" ++ F, Files))
     || F <- ["index.js", "index.d.ts", "testing.js", "testing.d.ts", "cli.js"]],
    Pkg = os:cmd("tar xzOf '" ++ ?config(tgz, Config) ++ "' package/package.json"),
    {ok, App} = file:consult(filename:join(?config(root, Config), "src/reactor.app.src")),
    [{application, reactor, Props}] = App,
    Vsn = proplists:get_value(vsn, Props),
    ?assertMatch({match, _}, re:run(Pkg, "\"version\": \"" ++ Vsn ++ "\"")),
    ?assertEqual(nomatch, re:run(Pkg, "\"dependencies\"")).

%% priv/types (what typecheck => true checks against) is committed: packing
%% again must not change it.
shipped_declarations_are_current(Config) ->
    Diff = run(?config(root, Config), "git status --porcelain -- priv/types"),
    ?assertEqual(<<"rc=0">>, Diff, "priv/types is stale: run `make package` and commit it").

starter_compiles_and_tests(Config) ->
    Project = ?config(project, Config),
    %% noUncheckedIndexedAccess, exactOptionalPropertyTypes, skipLibCheck false (tsconfig.json)
    ok = ok(run(Project, "npx tsc -p .")),
    NodeTest = run(Project, "node --test build/test/"),
    ct:log("~ts", [NodeTest]),
    ok = ok(NodeTest),
    ?assertMatch({match, _}, re:run(NodeTest, "# pass 3")),
    "" = os:cmd("mkdir -p '" ++ Project ++ "/build/jest' && cp '" ++ ?config(root, Config) ++
                "/test/package/greeter.jest.test.js' '" ++ Project ++ "/build/jest/'"),
    Jest = run(Project, "'" ++ ?config(root, Config) ++ "/node_modules/.bin/jest' --ci --rootDir build/jest"),
    ct:log("~ts", [Jest]),
    ok = ok(Jest),
    ?assertMatch({match, _}, re:run(Jest, "Tests: +2 passed")),
    "" = os:cmd("mkdir -p '" ++ Project ++ "/vt' && cp '" ++ ?config(root, Config) ++
                "/test/package/greeter.vitest.test.ts' '" ++ Project ++ "/vt/'"),
    Vitest = run(Project, "npx vitest run vt"),
    ct:log("~ts", [Vitest]),
    ok = ok(Vitest),
    ?assertMatch({match, _}, re:run(Vitest, "Tests +1 passed")).

check_refuses_a_misspelled_action(Config) ->
    Project = ?config(project, Config),
    ok = ok(run(Project, "npx erlang-reactor check priv")),
    Bad = filename:join([Project, "priv", "typo.ts"]),
    ok = file:write_file(Bad, <<"import { Action, Protocol } from \"erlang-reactor\";\n"
                                "export default class Typo extends Protocol {\n"
                                "  override dataReceived(): Action {\n"
                                "    return \"write_pendin\";\n"
                                "  }\n"
                                "}\n">>),
    Out = run(Project, "npx erlang-reactor check priv"),
    ct:log("~ts", [Out]),
    ok = file:delete(Bad),
    ?assertMatch({match, _}, re:run(Out, "priv/typo.ts:4:5: TS2820: Type '\"write_pendin\"' is not assignable to type 'Action'")),
    ?assertMatch({match, _}, re:run(Out, "rc=1$")).

%% typecheck => true: a protocol with a type error does not start, and says
%% where, as a compile error would; a good one starts. What it costs is logged.
typecheck_refuses_at_start(Config) ->
    Dir = ?config(priv_dir, Config),
    Typo = filename:join(Dir, "typo.ts"),
    ok = file:write_file(Typo, <<"import { Action, Protocol } from \"erlang-reactor\";\n"
                                 "export default class Typo extends Protocol {\n"
                                 "  dataReceived(): Action {\n"
                                 "    return \"write_pendin\";\n"
                                 "  }\n"
                                 "}\n">>),
    {error, {protocol_typecheck, [E]}} = reactor_context:start(typo, #{protocol => Typo, typecheck => true}),
    ct:log("~p", [E]),
    ?assertMatch(#{line := 4, column := 5}, E),
    ?assertEqual(unicode:characters_to_binary(Typo), maps:get(file, E)),
    ?assertMatch({match, _}, re:run(maps:get(text, E), "TS2820: Type '\"write_pendin\"' is not assignable")),
    %% without the check the same file loads (esbuild strips types)
    {ok, Loose} = reactor_context:start(loose, #{protocol => Typo}),
    reactor_context:stop(Loose),
    Http = filename:join(?config(root, Config), "examples/http.ts"),
    Time = fun(Check) ->
                   {Us, {ok, C}} = timer:tc(fun() -> reactor_context:start(timed, #{protocol => Http, typecheck => Check}) end),
                   reactor_context:stop(C),
                   Us div 1000
           end,
    Off = [Time(false) || _ <- lists:seq(1, 3)],
    On = [Time(true) || _ <- lists:seq(1, 3)],
    ct:pal("context start, examples/http.ts: typecheck off ~w ms, on ~w ms", [Off, On]).

%% Output and exit status of a command (npm's config warnings left out). Colour
%% is off and stripped: vitest colours its summary whenever CI is set.
run(Dir, Cmd) ->
    Out0 = os:cmd("cd '" ++ Dir ++ "' && (NO_COLOR=1 " ++ Cmd ++ ") 2>&1; echo rc=$?"),
    Out = re:replace(Out0, "\e\\[[0-9;]*m", "", [global, {return, list}, unicode]),
    Lines = [L || L <- string:split(string:trim(Out, trailing), "\n", all), not lists:prefix("npm warn", L)],
    unicode:characters_to_binary(lists:join("\n", Lines)).

ok(Out) ->
    case re:run(Out, "rc=0$") of
        {match, _} -> ok;
        nomatch -> {failed, Out}
    end.

pinned(Root, Package) ->
    Lock = os:cmd("node -p \"require('" ++ Root ++ "/package-lock.json').packages['node_modules/" ++ Package ++ "'].version\""),
    string:trim(Lock).
