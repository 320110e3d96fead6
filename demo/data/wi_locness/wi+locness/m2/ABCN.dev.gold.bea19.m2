S Dear Sir or Madam ,
A -1 -1|||noop|||-NONE-|||REQUIRED|||-NONE-|||0

S I am write to apply for the job in your summer camp .
A 2 3|||R:VERB:FORM|||writing|||REQUIRED|||-NONE-|||0
A 8 9|||R:PREP|||at|||REQUIRED|||-NONE-|||0

S Last year I work in a hotel so I have some experience with children .
A 3 4|||R:VERB:TENSE|||worked|||REQUIRED|||-NONE-|||0
A 7 7|||M:PUNCT|||,|||REQUIRED|||-NONE-|||0

S I enjoy with people and I am very friendy .
A 2 2|||M:VERB|||working|||REQUIRED|||-NONE-|||0
A 8 9|||R:SPELL|||friendly|||REQUIRED|||-NONE-|||0

S In my free time I like play tennis and swiming .
A 6 7|||R:VERB:FORM|||playing|||REQUIRED|||-NONE-|||0
A 9 10|||R:SPELL|||swimming|||REQUIRED|||-NONE-|||0

S I think I would be a good helper for your team .
A 2 2|||M:OTHER|||that|||REQUIRED|||-NONE-|||0
A 7 8|||R:NOUN|||assistant|||REQUIRED|||-NONE-|||0

S I look forward to hear from you .
A 4 5|||R:VERB:FORM|||hearing|||REQUIRED|||-NONE-|||0

S Yours faithfully ,
A -1 -1|||noop|||-NONE-|||REQUIRED|||-NONE-|||0

S My favourite place in my town is old market .
A 7 7|||M:DET|||the|||REQUIRED|||-NONE-|||0

S there are many small shops who sell fruit and vegetables .
A 0 1|||R:ORTH|||There|||REQUIRED|||-NONE-|||0
A 5 6|||R:PRON|||which|||REQUIRED|||-NONE-|||0

S Every Saturday I go there with my grand mother .
A 7 9|||R:ORTH|||grandmother|||REQUIRED|||-NONE-|||0

S She buy fresh bread and talk with the sellers .
A 1 2|||R:VERB:SVA|||buys|||REQUIRED|||-NONE-|||0
A 5 6|||R:VERB:SVA|||talks|||REQUIRED|||-NONE-|||0

S The market is always crowed , but I like the noise .
A 4 5|||R:SPELL|||crowded|||REQUIRED|||-NONE-|||0

S I would recommend it to every one who visits my town .
A 5 7|||R:ORTH|||everyone|||REQUIRED|||-NONE-|||0

S Technology has changed our lives in many ways .
A -1 -1|||noop|||-NONE-|||REQUIRED|||-NONE-|||0

S Some people say that the computers make us lazy .
A 4 5|||U:DET||||||REQUIRED|||-NONE-|||0

S In my opinion this is not true because we can learn a lot of things online .
A 7 7|||M:PUNCT|||,|||REQUIRED|||-NONE-|||0
A 11 14|||R:OTHER|||many|||REQUIRED|||-NONE-|||0

S For example , I learnt how to cook by watching videos .
A 4 5|||R:VERB:INFL|||learned|||REQUIRED|||-NONE-|||0

S But we should not spend all day in front of a screen .
A 0 1|||R:OTHER|||However ,|||REQUIRED|||-NONE-|||0
A 10 11|||R:DET|||the|||REQUIRED|||-NONE-|||0

S It is more better to meet friends in person .
A 2 4|||U:ADV|||better|||REQUIRED|||-NONE-|||0

S The story begin on a cold winter night .
A 2 3|||R:VERB:SVA|||begins|||REQUIRED|||-NONE-|||0

S Anna heared a strange noise in the kitchen .
A 1 2|||R:VERB:INFL|||heard|||REQUIRED|||-NONE-|||0
A 5 6|||R:PREP|||from|||REQUIRED|||-NONE-|||0

S She was very terrified , but she decide to go downstairs .
A 2 3|||U:ADV||||||REQUIRED|||-NONE-|||0
A 7 8|||R:VERB:TENSE|||decided|||REQUIRED|||-NONE-|||0

S When she opened the door , she see a small cat .
A 7 8|||R:VERB:TENSE|||saw|||REQUIRED|||-NONE-|||0

S The cat were hungry and wet so Anna gave it some milk .
A 2 3|||R:VERB:SVA|||was|||REQUIRED|||-NONE-|||0
A 6 6|||M:PUNCT|||,|||REQUIRED|||-NONE-|||0

S From that day , the cat live with her .
A 6 7|||R:VERB:TENSE|||lived|||REQUIRED|||-NONE-|||0

S It was the best night of her life .
A -1 -1|||noop|||-NONE-|||REQUIRED|||-NONE-|||0

S I have been study English for five years .
A 3 4|||R:VERB:FORM|||studying|||REQUIRED|||-NONE-|||0

S In the moment I prepare for an important exam .
A 0 1|||R:PREP|||At|||REQUIRED|||-NONE-|||0
A 4 5|||R:VERB:TENSE|||am preparing|||REQUIRED|||-NONE-|||0

S My teacher say that I need to read more book .
A 2 3|||R:VERB:SVA|||says|||REQUIRED|||-NONE-|||0
A 9 10|||R:NOUN:NUM|||books|||REQUIRED|||-NONE-|||0

