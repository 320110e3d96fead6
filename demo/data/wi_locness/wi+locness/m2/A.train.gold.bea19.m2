S Hi Sam ,
A -1 -1|||noop|||-NONE-|||REQUIRED|||-NONE-|||0

S How you ?
A 1 1|||M:VERB|||are|||REQUIRED|||-NONE-|||0

S I am fine , thank you for your letter .
A -1 -1|||noop|||-NONE-|||REQUIRED|||-NONE-|||0

S Next week I go to the cinema with my freinds .
A 3 4|||R:VERB:TENSE|||am going|||REQUIRED|||-NONE-|||0
A 9 10|||R:SPELL|||friends|||REQUIRED|||-NONE-|||0

S Do you want come with us ?
A 3 4|||M:VERB:FORM|||to come|||REQUIRED|||-NONE-|||0

S The film start at seven o clock .
A 2 3|||R:VERB:SVA|||starts|||REQUIRED|||-NONE-|||0
A 5 7|||R:ORTH|||o'clock|||REQUIRED|||-NONE-|||0

S We can to meet in front of the station .
A 2 4|||U:VERB:FORM|||meet|||REQUIRED|||-NONE-|||0

S Please write me soon .
A 2 2|||M:PREP|||to|||REQUIRED|||-NONE-|||0

S See you ,
A -1 -1|||noop|||-NONE-|||REQUIRED|||-NONE-|||0

S My name is Carlos and I have fifteen years old .
A 6 7|||R:VERB|||am|||REQUIRED|||-NONE-|||0

S I live in a small city near the sea .
A 5 6|||R:NOUN|||town|||REQUIRED|||-NONE-|||0

S My house have three bedroom and a big garden .
A 2 3|||R:VERB:SVA|||has|||REQUIRED|||-NONE-|||0
A 4 5|||R:NOUN:NUM|||bedrooms|||REQUIRED|||-NONE-|||0

S I has a dog who is called Max .
A 1 2|||R:VERB:SVA|||have|||REQUIRED|||-NONE-|||0
A 4 5|||R:PRON|||that|||REQUIRED|||-NONE-|||0

S Every morning I walk whit him in the park .
A 4 5|||R:SPELL|||with|||REQUIRED|||-NONE-|||0

S My brother name is Pablo .
A 2 2|||M:NOUN:POSS|||'s|||REQUIRED|||-NONE-|||0

S He like football very much .
A 1 2|||R:VERB:SVA|||likes|||REQUIRED|||-NONE-|||0

S Yesterday we go to the beach and swim in the sea .
A 2 3|||R:VERB:TENSE|||went|||REQUIRED|||-NONE-|||0
A 7 8|||R:VERB:TENSE|||swam|||REQUIRED|||-NONE-|||0

S The water were cold but it was fun
A 2 3|||R:VERB:SVA|||was|||REQUIRED|||-NONE-|||0
A 8 8|||M:PUNCT|||.|||REQUIRED|||-NONE-|||0

S I would like visit London in next summer .
A 3 4|||M:VERB:FORM|||to visit|||REQUIRED|||-NONE-|||0
A 5 6|||U:PREP||||||REQUIRED|||-NONE-|||0

S I am interested for the history of england .
A 3 4|||R:PREP|||in|||REQUIRED|||-NONE-|||0
A 7 8|||R:ORTH|||England|||REQUIRED|||-NONE-|||0

S My favourite food is pizza .
A -1 -1|||noop|||-NONE-|||REQUIRED|||-NONE-|||0

S I eat it Fridays with my family .
A 3 3|||M:PREP|||on|||REQUIRED|||-NONE-|||0

S My mother cook very good .
A 2 3|||R:VERB:SVA|||cooks|||REQUIRED|||-NONE-|||0
A 4 5|||R:ADJ|||well|||REQUIRED|||-NONE-|||0

S On Sunday we visited my grandparents every week .
A 3 4|||R:VERB:TENSE|||visit|||REQUIRED|||-NONE-|||0

S They live in a old house in the mountains .
A 3 4|||R:DET|||an|||REQUIRED|||-NONE-|||0

S There is many animals on their farm .
A 1 2|||R:VERB:SVA|||are|||REQUIRED|||-NONE-|||0

S I want to be doctor when I grow up .
A 4 4|||M:DET|||a|||REQUIRED|||-NONE-|||0

S I think is a very important job .
A 2 2|||M:PRON|||it|||REQUIRED|||-NONE-|||0

S Thank you for the present I love .
A 5 5|||M:PUNCT|||,|||REQUIRED|||-NONE-|||0
A 7 7|||M:PRON|||it|||REQUIRED|||-NONE-|||0

S The party were very good and everybody danced .
A 2 3|||R:VERB:SVA|||was|||REQUIRED|||-NONE-|||0

S I did n't know that you can sing .
A 6 7|||R:VERB:TENSE|||could|||REQUIRED|||-NONE-|||0

S I am sorry I can not come to your party .
A 3 3|||M:CONJ|||that|||REQUIRED|||-NONE-|||0
A 4 6|||R:ORTH|||cannot|||REQUIRED|||-NONE-|||0

S I have a exam on Monday and I must study .
A 2 3|||R:DET|||an|||REQUIRED|||-NONE-|||0

S Maybe we can meet next weekend .
A -1 -1|||noop|||-NONE-|||REQUIRED|||-NONE-|||0

S Write to me soon !
A -1 -1|||noop|||-NONE-|||REQUIRED|||-NONE-|||0

S Best wishes ,
A -1 -1|||noop|||-NONE-|||REQUIRED|||-NONE-|||0

