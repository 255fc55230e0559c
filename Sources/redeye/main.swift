import RedeyeCommands

Redeye.start()
