# classify.awk reads lt-proc output (one ^word/analysis/...$ per line) and
# prints "class<TAB>word" for proper-noun classes: given (np.ant),
# surname (np.cog), place (np.top, np.org, np.al).
{
  line = $0
  if (match(line, /^\^[^\/]*\//) == 0) next
  word = substr(line, 2, RLENGTH - 2)
  if (index(line, "<np><ant>")) print "given\t" word
  if (index(line, "<np><cog>")) print "surname\t" word
  if (index(line, "<np><top>") || index(line, "<np><org>") || index(line, "<np><al>")) print "place\t" word
}
