//! The lesson's text, one table per language: each step's title, sentences, question and choices, in the order
//! of the steps' figures. The answers and their explanations with the reader's numbers live in
//! [`super::steps`].

/// How many steps.
pub const STEPS: usize = 12;

/// The text of one step in one language.
pub struct StepText {
    /// The step's title.
    pub title: &'static str,
    /// Two to five sentences.
    pub body: &'static [&'static str],
    /// The question the reader answers before the app checks it.
    pub question: &'static str,
    /// The choices.
    pub choices: &'static [&'static str],
}

/// English.
pub static EN: [StepText; STEPS] = [
    StepText {
        title: "1 · Text becomes tokens",
        body: &[
            "The model never sees letters. A tokenizer cuts your text into pieces from a fixed vocabulary and the model reads their ids.",
            "Common words are one token; rarer words and names are cut into several pieces, down to single bytes if need be. A Chinese character is three bytes in UTF-8: GPT-2 reads a few very common ones (是) as one token and most as two or three. A vocabulary trained on Chinese keeps common characters and common pairs of them whole: the demo model reads 我愛網球。 as 我愛 | 網球 | 。, three tokens.",
            "Each token takes one row and one column of every attention matrix, so the matrix grows as the square of the token count.",
        ],
        question: "Compared with the words in your text (split at spaces, and each Chinese character counted as one), how many tokens does the model read?",
        choices: &["fewer tokens than words", "exactly one per word", "more tokens than words"],
    },
    StepText {
        title: "2 · Queries, keys and the score matrix",
        body: &[
            "Each token computes a query vector (what it looks for) and a key vector (what it offers) with the head's learned weights W_Q and W_K.",
            "Score S[i][j] = q_i · k_j / √d_head says how well token i's query matches token j's key; d_head is one head's width (64 in GPT-2 small: 768 split over 12 heads).",
            "The figure shows this head's S before the causal mask, over every pair.",
            "GPT-2 has only self-attention: queries, keys and values all come from the same tokens. In an encoder–decoder model's cross-attention the queries come from the decoder and the keys and values from the encoder.",
        ],
        question: "Compare S[last][first], the last token's query against the first token's key, with S[first][last]. Which is larger?",
        choices: &["S[last][first]", "S[first][last]", "they are equal"],
    },
    StepText {
        title: "3 · Softmax rows, and what a head passes on",
        body: &[
            "The causal mask hides every later token, then softmax turns each row of scores into probabilities: row i says where token i looks, its entries are > 0 on every token it can see, 0 on later ones, and add up to 1.",
            "What the head passes on is a mix of the tokens' value vectors v_j = LN(x_j) W_V + b_V, weighted by row i: the head's output for token i is Σ_j A[i][j] v_j, turned back to the model's width by W_O.",
            "Every head of a layer does this side by side; their outputs are concatenated and projected together, then added to the residual stream.",
        ],
        question: "Where does the last token look most in this head?",
        choices: &["at token 0 (the first)", "at the token just before it", "at itself", "at another token"],
    },
    StepText {
        title: "4 · The attention graph",
        body: &[
            "Read the matrix as a directed graph: tokens are nodes, and A[i][j] is the weight of the edge i → j (token i looks at token j).",
            "The causal mask makes every edge point to an earlier token, or back to the same token. A self-loop is a cycle of length one, so with the self-loops the graph is not a DAG; without them it is, since no path can come back.",
            "The figure draws the strongest edges of the selected head; hover a token to see where it looks and who looks at it.",
        ],
        question: "Which token receives the most attention in all (the heaviest column, summed over every row)?",
        choices: &["token 0 (the first)", "the last token", "a token in between"],
    },
    StepText {
        title: "5 · A Markov chain",
        body: &[
            "Each row is a probability distribution, so the matrix is a Markov transition matrix: a walker on token i moves to token j with probability A[i][j].",
            "Token 0 can only look at itself, so a walker there never leaves: it is an absorbing state. A walker never moves forward: each step goes back in the text or stays, and since every A[i][0] is > 0, every other token is transient.",
            "Entropy measures how spread a row is: 0 bits when a token looks at one token only, log₂(i + 1) bits when token i spreads evenly over the i + 1 tokens it can see.",
        ],
        question: "Is the entropy of the last token's row above 1 bit (spread over more than about two tokens)?",
        choices: &["yes, above 1 bit", "no, 1 bit or less"],
    },
    StepText {
        title: "6 · Many steps: A^k and the sink",
        body: &[
            "A^k holds where walkers stand after k steps. Since every step goes back in the text or stays, all of them end on token 0 as k grows — for every causal attention matrix, even a uniform one.",
            "A head that already puts much of its weight on token 0 (a sink) only gets there faster. The model never computes A^k: sinks are thought to be learned because softmax must put its weight somewhere, and token 0 is visible from every position.",
            "The multi-step path that means something runs through the layers, not through one head again and again: attention rollout multiplies the layers' head-averaged matrices, each mixed with the residual connection (½A + ½I) — a heuristic picture of the flow, not an exact one.",
        ],
        question: "In the limit every walker is on token 0; the question is how soon. Start one walker on every token: after 8 steps of this head, are more than half of them on token 0 already?",
        choices: &["no, half or less", "yes, more than half"],
    },
    StepText {
        title: "7 · Next-token probabilities, and repeats",
        body: &[
            "At the last layer, the vector at position t − 1 becomes a probability for every token of the vocabulary: the model's guess for token t, p(x_t | x_<t), the number beside each token in the probability panel.",
            "An induction head finds where the current token occurred before and looks at the token that came after it; so a token that continues a pair already seen in the text can be copied.",
            "This step looks at exactly those tokens: the positions t where the pair (x_{t−1}, x_t) occurred earlier in your text.",
        ],
        question: "Where a pair of tokens repeats, is its second token more probable than at the pair's first occurrence?",
        choices: &["more probable the second time", "less probable the second time"],
    },
    StepText {
        title: "8 · Perplexity",
        body: &[
            "Multiplying the predictions gives the probability of the text after its first token: p(x₂ … x_n | x₁) = Π p(x_t | x_<t) (the chain rule). With BOS in front, x₁ is predicted too and it is the whole text's probability.",
            "ln PPL is the mean of −ln p(x_t | x_<t): the cross-entropy in nats per token, and log₂ PPL is bits per token. Perplexity itself is not an entropy and has no unit: it is the number of equally likely choices that would be as uncertain.",
            "Guessing uniformly over GPT-2's 50,257 tokens gives perplexity 50,257. Hugging Face's guide reports 16.45 for gpt2-large on WikiText-2, scored in windows of 1,024 tokens moved 512 at a time; the Perplexity tab runs that loop on a file.",
        ],
        question: "Guess your text's perplexity.",
        choices: &["below 10", "10 to 100", "above 100"],
    },
    StepText {
        title: "9 · Bits and compression",
        body: &[
            "−log₂ p(x_t | x_<t) is the number of bits an ideal code spends on token t. An arithmetic coder driven by the model encodes the predicted tokens without loss in at most about two bits more than their sum (plus marking where the text ends): predicting and compressing are one thing (Shannon's source coding theorem).",
            "Divided by the predicted bytes, that is bits per byte, which compares with plain text (8) and with gzip.",
            "Calling the parameters a lossy compression of the training text is a metaphor: that kind of compression is rate–distortion theory, not these bits.",
        ],
        question: "Does the model need fewer bits per byte for your text than gzip −9?",
        choices: &["yes, fewer than gzip", "no, gzip needs fewer"],
    },
    StepText {
        title: "10 · What a head contributes",
        body: &[
            "Attention is communication between tokens; the MLP is computation inside each token. Both add vectors to one residual stream.",
            "With the final norm's normalising factor 1/σ frozen at its value on this text, the logit of a token is a sum of parts: each head's output, each MLP's, the embeddings, the attention output biases and, where the final norm is a LayerNorm (GPT-2), its shift β — direct logit attribution.",
            "The grid colours every head by its part of the logit of the last token; knock a head out to see its whole effect.",
        ],
        question: "Which adds more directly to the logit of the last token, as the token before it predicts it?",
        choices: &["all attention heads together", "all MLPs together"],
    },
    StepText {
        title: "11 · What each layer predicts",
        body: &[
            "The residual stream after any block can be put through the final norm and the unembedding as if the model stopped there: the logit lens (nostalgebraist, 2020). The first column, embed, is the embeddings alone; after L3 is the stream leaving block 3, with layer 3's heads and MLP in it; the last, output, is the model's own prediction.",
            "Each block adds to the stream what its heads bring from other tokens and what its MLP computes, so the guess for the next token changes layer by layer; the figure shows, for the last-but-one token, each layer's top guess and the probability of the token that really comes next.",
            "The lens reads earlier layers through the last layer's norm and unembedding, which they were not trained to feed directly: read its early columns as a rough view, not the layer's own belief.",
        ],
        question: "At which layer does the token that really comes last first become the top guess after the token before it?",
        choices: &[
            "already at embed, the embeddings alone",
            "after a layer between",
            "only at the output",
            "never: the model's top guess is another token",
        ],
    },
    StepText {
        title: "12 · What the sink carries",
        body: &[
            "An attention weight says how much token i looks at token j, not how much of j reaches i: the head moves α_ij · f(x_j), and f(x_j) = LN(x_j) W_V W_O can be a large vector or one near zero (Kobayashi et al., 2020).",
            "Many heads park much of their attention on token 0 and move little from it: the sink's vector is small. Step 6 counted where attention goes; this counts what arrives.",
            "The graph's edges menu switches from attention to what flows, ||α_ij · f(x_j)||, for any head.",
        ],
        question: "Of what this head moves to the last token, is token 0's share smaller than its share of the last token's attention?",
        choices: &["smaller: token 0 gets attention but passes on less", "the same or larger"],
    },
];

/// Traditional Chinese.
pub static ZH_HANT: [StepText; STEPS] = [
    StepText {
        title: "1 · 文字變成詞元",
        body: &[
            "模型看不到字母或漢字。分詞器把文字切成固定詞彙表裡的片段，模型讀的是它們的編號。",
            "常見的詞是一個詞元；較少見的詞和人名會被切成好幾段，最細可切到單一位元組。一個中文字在 UTF-8 中是三個位元組：GPT-2 只把少數極常用的字（例如「是」）讀成一個詞元，大多數讀成兩到三個。以中文訓練的詞彙表會把常用的字和常見的字組整個收進來：示範模型把「我愛網球。」讀成「我愛｜網球｜。」三個詞元。",
            "每個詞元在每個注意力矩陣中各占一列一行，所以矩陣隨詞元數的平方增長。",
        ],
        question: "和你文字中的詞（以空白分開，每個漢字算一個）相比，模型讀到幾個詞元？",
        choices: &["詞元比詞少", "每個詞剛好一個", "詞元比詞多"],
    },
    StepText {
        title: "2 · 查詢、鍵與分數矩陣",
        body: &[
            "每個詞元用這個注意力頭學到的權重 W_Q 和 W_K，算出一個查詢向量（它在找什麼）和一個鍵向量（它提供什麼）。",
            "分數 S[i][j] = q_i · k_j / √d_head 表示詞元 i 的查詢和詞元 j 的鍵有多相配；d_head 是一個注意力頭的寬度（GPT-2 small 是 64：768 分給 12 個頭）。",
            "圖中是這個頭在因果遮罩之前、所有配對的 S。",
            "GPT-2 只有自注意力：查詢、鍵和值都來自同一串詞元。在編碼器–解碼器模型的交叉注意力中，查詢來自解碼器，鍵和值來自編碼器。",
        ],
        question: "比較 S[最後][第一]（最後一個詞元的查詢對第一個詞元的鍵）和 S[第一][最後]。哪一個比較大？",
        choices: &["S[最後][第一]", "S[第一][最後]", "一樣大"],
    },
    StepText {
        title: "3 · Softmax 之後的每一列，以及注意力頭傳出什麼",
        body: &[
            "因果遮罩把後面的詞元都遮住，softmax 再把每一列分數變成機率：第 i 列說明詞元 i 看向哪裡，能看到的詞元上每一格都 > 0，後面的是 0，總和為 1。",
            "這個頭傳出去的，是各詞元值向量 v_j = LN(x_j) W_V + b_V 依第 i 列（橫列）加權的混合：詞元 i 的輸出是 Σ_j A[i][j] v_j，再由 W_O 轉回模型的寬度。",
            "同一層的每個頭並排做這件事；它們的輸出串接起來一起投影，再加進殘差流。",
        ],
        question: "在這個注意力頭裡，最後一個詞元把最多注意力放在哪裡？",
        choices: &["詞元 0（第一個）", "緊接在它前面的詞元", "它自己", "其他詞元"],
    },
    StepText {
        title: "4 · 注意力圖",
        body: &[
            "把矩陣讀成有向圖：詞元是節點，A[i][j] 是邊 i → j 的權重（詞元 i 看向詞元 j）。",
            "因果遮罩讓每條邊都指向更早的詞元，或指回自己。自環是長度為一的環，所以含自環時這張圖不是有向無環圖（DAG）；去掉自環就是，因為沒有路徑能繞回起點。",
            "圖中畫出所選注意力頭最強的邊；把游標移到詞元上，看它看向哪裡、誰看向它。",
        ],
        question: "哪個詞元總共收到最多注意力（對所有列加總後，總和最大的那一行）？",
        choices: &["詞元 0（第一個）", "最後一個詞元", "中間的某個詞元"],
    },
    StepText {
        title: "5 · 馬可夫鏈",
        body: &[
            "每一列都是機率分布，所以這個矩陣是馬可夫轉移矩陣：在詞元 i 的隨機漫步者，以機率 A[i][j] 走到詞元 j。",
            "詞元 0 只看得到自己，所以走到那裡就離不開了：它是吸收態。隨機漫步者從不往後走：每一步都往前文走或留在原地；因為每個 A[i][0] 都 > 0，除了詞元 0 以外的狀態都是暫態。",
            "熵衡量一列有多分散：只看一個詞元時是 0 位元；詞元 i 把注意力平均分給它能看到的 i + 1 個詞元時是 log₂(i + 1) 位元。",
        ],
        question: "最後一個詞元那一列的熵超過 1 位元嗎（分散在大約兩個以上的詞元）？",
        choices: &["超過 1 位元", "1 位元或更少"],
    },
    StepText {
        title: "6 · 走很多步：A^k 與匯點",
        body: &[
            "A^k 記錄走 k 步之後隨機漫步者在哪裡。因為每一步都往前文走或留在原地，k 越大，漫步者最後全都落在詞元 0——每個因果注意力矩陣都是這樣，連均勻的也一樣。",
            "已經把很多權重放在詞元 0（匯點）上的頭只是更快到達。模型從來不計算 A^k：一般認為匯點是學出來的，因為 softmax 總得把權重放在某處，而詞元 0 從每個位置都看得到。",
            "有意義的多步路徑是跨層的，而不是同一個頭重複走：注意力展開（rollout）把各層（各頭平均後）的矩陣相乘，每層先和殘差連接混合（½A + ½I）——這是近似的資訊流示意，不是精確結果。",
        ],
        question: "極限下每個漫步者都在詞元 0；問題是多快。在每個詞元上各放一個隨機漫步者：這個頭走 8 步之後，已經有超過一半在詞元 0 嗎？",
        choices: &["沒有，一半或更少", "有，超過一半"],
    },
    StepText {
        title: "7 · 下一個詞元的機率，以及重複",
        body: &[
            "在最後一層，位置 t − 1 的向量變成詞彙表中每個詞元的機率：這是模型對詞元 t 的猜測 p(x_t | x_<t)，也就是機率面板中每個詞元旁邊的數字。",
            "歸納頭會找到目前這個詞元先前出現的地方，看向緊接在它後面的詞元；所以延續文字中已出現過的一對詞元時，可以照抄。",
            "這一步只看這些詞元：一對 (x_{t−1}, x_t) 在你的文字前面已經出現過的位置 t。",
        ],
        question: "一對詞元重複出現時，第二次出現時它的第二個詞元機率比第一次更高嗎？",
        choices: &["第二次機率較高", "第二次機率較低"],
    },
    StepText {
        title: "8 · 困惑度",
        body: &[
            "把各個預測相乘，得到第一個詞元之後文字的機率：p(x₂ … x_n | x₁) = Π p(x_t | x_<t)（機率的連鎖律）。前面加上 BOS 時，x₁ 也被預測，得到的就是整段文字的機率。",
            "ln PPL 是 −ln p(x_t | x_<t) 的平均：每個詞元的交叉熵（單位是奈特），log₂ PPL 則是每個詞元的位元數。困惑度本身不是熵，也沒有單位：它是「同樣不確定的等可能選項個數」。",
            "在 GPT-2 的 50,257 個詞元中均勻亂猜，困惑度是 50,257。Hugging Face 的指南說 gpt2-large 在 WikiText-2 上是 16.45，以 1,024 個詞元的視窗、每次移動 512 計算；「Perplexity」分頁可以對一個檔案跑同樣的迴圈。",
        ],
        question: "猜猜你的文字的困惑度。",
        choices: &["小於 10", "10 到 100", "大於 100"],
    },
    StepText {
        title: "9 · 位元與壓縮",
        body: &[
            "−log₂ p(x_t | x_<t) 是理想編碼花在詞元 t 上的位元數。由模型驅動的算術編碼器可以無損地編碼被預測的詞元，最多只比這些位元的總和多約兩個位元（另加標示文字結尾）：預測和壓縮是同一件事（夏農的訊源編碼定理）。",
            "除以被預測的位元組數，就是每位元組位元數，可以和純文字（8）以及 gzip 比較。",
            "說參數是訓練文字的「有損壓縮」只是比喻：那種壓縮屬於率失真理論，不是這裡的位元數。",
        ],
        question: "對你的文字，模型需要的每位元組位元數會比 gzip −9 少嗎？",
        choices: &["會，比 gzip 少", "不會，gzip 比較少"],
    },
    StepText {
        title: "10 · 一個頭貢獻了什麼",
        body: &[
            "注意力是詞元之間的溝通；MLP 是每個詞元內部的計算。兩者都把向量加進同一條殘差流。",
            "把最後一個正規化層的正規化因子 1/σ 固定在它對這段文字的值，一個詞元的 logit 就是各部分的總和：每個頭的輸出、每個 MLP 的輸出、嵌入、注意力輸出的偏差項（bias），以及（最後一層是 LayerNorm 時，例如 GPT-2）它的平移 β——這就是直接 logit 歸因。",
            "網格依每個頭對最後一個詞元 logit 的貢獻上色；把一個頭移除（knock out），就能看到它的總效果。",
        ],
        question: "對最後一個詞元的 logit（由它前一個詞元預測時），哪一個直接貢獻比較多？",
        choices: &["所有注意力頭合計", "所有 MLP 合計"],
    },
    StepText {
        title: "11 · 每一層預測什麼",
        body: &[
            "任何一個區塊之後的殘差流，都可以當作模型在那裡停下，送進最後的正規化層和反嵌入（unembedding）：這就是 logit lens（nostalgebraist，2020）。第一欄 embed 只有嵌入；after L3 是離開第 3 個區塊的殘差流，已含第 3 層的頭和 MLP；最後一欄 output 就是模型自己的預測。",
            "每個區塊都把它的頭從其他詞元帶來的東西、和它的 MLP 算出的東西加進殘差流，所以對下一個詞元的猜測一層一層改變；圖中是倒數第二個詞元在每一層的第一猜測，以及真正下一個詞元的機率。",
            "logit lens 用最後一層的正規化和反嵌入去讀較早的層，而那些層並沒有被訓練成直接接到它們：較早的欄位只是粗略的樣子，不是那一層自己的判斷。",
        ],
        question: "真正的最後一個詞元，從哪一層開始成為它前一個詞元之後的第一猜測？",
        choices: &["在 embed（只有嵌入）就是了", "中間某一層之後", "要到輸出才是", "從來不是：模型的第一猜測是別的詞元"],
    },
    StepText {
        title: "12 · 匯點帶來了什麼",
        body: &[
            "注意力權重說的是詞元 i 看詞元 j 看了多少，而不是 j 有多少到了 i：這個頭搬的是 α_ij · f(x_j)，而 f(x_j) = LN(x_j) W_V W_O 可能是很大的向量，也可能幾乎是零（Kobayashi 等，2020）。",
            "許多頭把大量注意力停放在詞元 0，卻幾乎沒從那裡搬走什麼：匯點的向量很小。第 6 步算的是注意力去了哪裡；這一步算的是到了什麼。",
            "圖的「edges」選單可以把邊從注意力切換成流過的量 ||α_ij · f(x_j)||，任何一個頭都可以。",
        ],
        question: "在這個頭搬給最後一個詞元的東西裡，詞元 0 所占的比例，是否小於它在最後一個詞元注意力中所占的比例？",
        choices: &["比較小：詞元 0 得到注意力，卻傳得比較少", "一樣或比較大"],
    },
];
