%% @doc Where the application's priv directory is: the NIF, the addon, the
%% port runtime and esbuild live there, in a release as in a checkout.
-module(reactor_priv).

-export([dir/0]).

-spec dir() -> file:filename().
dir() ->
    case code:priv_dir(reactor) of
        {error, bad_name} ->
            %% not loaded as an application (a bare -pa): beside ebin
            filename:join(filename:dirname(filename:dirname(code:which(?MODULE))), "priv");
        Dir ->
            Dir
    end.
