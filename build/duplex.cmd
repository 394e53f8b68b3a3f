@echo off
rem duplex: the Duplex command line (README: "The duplex command"), installed beside Duplex.exe
rem and put on PATH by the installer. It runs the bundled Electron as Node: no separate Node.
setlocal
set ELECTRON_RUN_AS_NODE=1
"%~dp0Duplex.exe" "%~dp0resources\app.asar\out\main\cli.js" %*
exit /b %ERRORLEVEL%
